"""Paper trading on live market data, end to end, with real processes: a ``greenlight sim``
plays the real exchange (Binance cannot be reached from here), and the system runs with
``venue.name = "paper"`` pointed at it. The paper venue follows the upstream's public kline
streams and fills the router's orders itself: at the upstream's prices plus the slippage
model, while the upstream sees nothing but public market-data requests; every record lands
in the paper schema and none in the default one.

The test drives the upstream's clock one timeframe at a time (``/sim/admin/advance``) and
lets everything settle between steps (as ``greenlight demo`` does), so the run does not
depend on the machine's speed. The paper venue polls the upstream's clock only once a
minute here: its clock then moves with the stream frames alone, and each fill's time names
the frame that caused it (what the slippage's candle range is read from).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from greenlight.core.db import migrate, with_schema
from greenlight.demo import Probe, settle
from greenlight.procs import ProcessGroup, child_env, free_port, wait_port
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
TF_MS = 900_000
BPS, FRACTION = Decimal(5), Decimal("0.02")
TICK = Decimal("0.01")  # BTCUSDT on the upstream simulator
MAX_STEPS = 400
PUBLIC = {"GET /api/v3/exchangeInfo", "GET /api/v3/klines", "GET /api/v3/time"}
TABLES = ("candles", "signals", "decisions", "approvals", "orders", "fills", "audit_log")
PLUMBING = {  # decisions often: the starter rule, costs not weighed, only SHOCK blocks
    "GREENLIGHT_STRATEGY_AGENT": "starter",
    "GREENLIGHT_RISK_MAX_COST_FRACTION_OF_R": "10",
    "GREENLIGHT_VOLATILITY_BLOCK": '["SHOCK"]',
}
NO_METRICS = {f"GREENLIGHT_METRICS_{p}_PORT": "0" for p in ("SIM", "PAPER", "ENGINE", "BOT")}


@pytest.fixture
def public_before(db_url: str) -> dict[str, int]:
    """Row counts of the default schema before anything of the paper run starts."""

    async def counts() -> dict[str, int]:
        conn = await asyncpg.connect(db_url)
        try:
            return await _counts(conn, "public")
        finally:
            await conn.close()

    return asyncio.run(counts())


@pytest.fixture
def system(db_url: str, tmp_path: Path, public_before: dict[str, int]) -> Iterator[dict[str, Any]]:
    upstream_port, paper_port, router_port = free_port(), free_port(), free_port()
    common = {**NO_METRICS, "GREENLIGHT_METRICS_ROUTER_PORT": "0"}
    upstream_env = child_env(
        db_url, "unused", {**common, "GREENLIGHT_SIM_PORT": str(upstream_port)}
    )
    env = child_env(
        db_url,  # the processes add the paper schema themselves (venue.name = "paper")
        "e2e-router-token",
        {
            **common,
            **PLUMBING,
            "GREENLIGHT_GENERAL_MODE": "paper",
            "GREENLIGHT_VENUE_NAME": "paper",
            "GREENLIGHT_VENUE_PAPER_PORT": str(paper_port),
            "GREENLIGHT_VENUE_PAPER_MARKET_URL": f"http://127.0.0.1:{upstream_port}",
            "GREENLIGHT_VENUE_PAPER_SLIPPAGE_BPS": str(BPS),
            "GREENLIGHT_VENUE_PAPER_SLIPPAGE_RANGE_FRACTION": str(FRACTION),
            "GREENLIGHT_VENUE_PAPER_CLOCK_POLL_S": "60",
            "GREENLIGHT_ROUTER_PORT": str(router_port),
            "GREENLIGHT_BOT_CHANNELS": '["console"]',
            "GREENLIGHT_BOT_CHART_DIR": str(tmp_path / "charts"),
            "GREENLIGHT_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors.jsonl"),
        },
    )
    asyncio.run(migrate(with_schema(db_url, "paper")))  # as `greenlight up` does first
    upstream, group = ProcessGroup(upstream_env), ProcessGroup(env)
    names = ("upstream", "paper", "router", "engine", "bot")
    logs = {n: (tmp_path / f"{n}.log").open("wb") for n in names}
    try:
        sim = upstream.start("sim", "sim", "--paused", "--markets", "spot", stdout=logs["upstream"])
        wait_port("127.0.0.1", upstream_port, 60, sim)
        paper = group.start("paper", "paper", stdout=logs["paper"])
        wait_port("127.0.0.1", paper_port, 60, paper)
        router = group.start("router", "router", stdout=logs["router"])
        wait_port("127.0.0.1", router_port, 60, router)
        group.start("engine", "engine", stdout=logs["engine"])
        group.start("bot", "bot", "--auto-approve", stdout=logs["bot"])
        yield {
            "upstream": f"http://127.0.0.1:{upstream_port}",
            "paper_port": paper_port,
            "router_port": router_port,
            "group": group,
            "env": env,
        }
    finally:
        group.stop()
        upstream.stop()
        for fh in logs.values():
            fh.close()


async def test_paper_venue_fills_at_upstream_prices_in_its_own_schema(
    db_url: str, system: dict[str, Any], public_before: dict[str, int]
) -> None:
    admin = await asyncpg.connect(db_url)
    try:
        async with aiohttp.ClientSession() as http:
            did = await _drive_until_a_trade_closes(http, system)
            upstream = await _get(http, system["upstream"], "/sim/admin/status")
            rows = await _get(
                http,
                system["upstream"],
                "/api/v3/klines",
                {"symbol": "BTCUSDT", "interval": "15m", "limit": "1000"},
            )
        fills = await admin.fetch(
            "SELECT f.price, f.trade_time, f.side, f.venue, o.order_type, o.price AS limit_price,"
            " o.stop_price FROM paper.fills f JOIN paper.orders o USING (client_order_id)"
            " WHERE f.decision_id = $1 ORDER BY f.trade_time, f.id",
            did,
        )
        assert len(fills) >= 2 and fills[0]["order_type"] == "MARKET"
        for f in fills:
            assert f["venue"] == "paper"
            assert Decimal(f["price"]) == _expected_price(f, rows), dict(f)
        # The upstream was only read: public market data, no order, no user stream.
        assert set(upstream["rest_requests"]) <= PUBLIC, upstream["rest_requests"]
        assert upstream["user_messages_sent"] == 0
        # Everything the paper run wrote is in its schema; the default one is untouched.
        paper = await _counts(admin, "paper")
        assert paper["decisions"] >= 1 and paper["fills"] >= 2 and paper["candles"] > 300
        assert await _counts(admin, "public") == public_before
        venues = await admin.fetch("SELECT DISTINCT venue FROM paper.candles")
        assert [r["venue"] for r in venues] == ["paper"]
    finally:
        await admin.close()


async def _drive_until_a_trade_closes(http: aiohttp.ClientSession, system: dict[str, Any]) -> int:
    """Step the upstream one timeframe at a time until a paper decision is CLOSED."""
    deadline = time.monotonic() + 600
    group: ProcessGroup = system["group"]
    paper_db = with_schema(system["env"]["GREENLIGHT_DATABASE_URL"], "paper")
    probe = Probe(paper_db, system["paper_port"], system["router_port"], "e2e-router-token")
    async with probe:
        status = await probe.sim_call("status")
        await settle(group, probe, status, "15m", TF_MS, deadline, venue="paper")
        for _ in range(MAX_STEPS):
            up = await _post(http, system["upstream"], "/sim/admin/advance", {"ms": TF_MS})

            async def caught_up(target: int = int(up["server_time"])) -> dict[str, Any] | None:
                assert not group.dead(), group.dead()
                st = await probe.sim_call("status")
                return st if int(st["server_time"]) >= target else None

            status = await eventually(caught_up, 60, "the paper venue to follow the upstream")
            await settle(group, probe, status, "15m", TF_MS, deadline, venue="paper")
            did = await probe.fetchval(
                "SELECT min(id) FROM decisions WHERE state = 'CLOSED'"
                " AND (SELECT count(*) FROM fills WHERE decision_id = decisions.id) >= 2"
            )
            if did is not None:
                return int(did)
    raise AssertionError(f"no paper decision closed within {MAX_STEPS} timeframes")


def _expected_price(fill: asyncpg.Record, rows: list[list[Any]]) -> Decimal:
    """The price the paper venue's model gives this fill on the upstream's candles: a
    resting limit at its price; a taker fill at its reference price (the last price for a
    market order, the level for a triggered stop) moved against it by ``BPS`` plus
    ``FRACTION`` of the range of the upstream's newest candle closed at the fill's time."""
    if fill["order_type"] in ("LIMIT", "LIMIT_MAKER"):
        return Decimal(fill["limit_price"])
    t = int(fill["trade_time"])
    last = max((r for r in rows if int(r[6]) < t), key=lambda r: int(r[0]))
    bar_range = Decimal(last[2]) - Decimal(last[3])
    raw = Decimal(last[4]) if fill["order_type"] == "MARKET" else Decimal(fill["stop_price"])
    slip = raw * BPS / 10_000 + FRACTION * bar_range
    moved = raw + slip if fill["side"] == "BUY" else raw - slip
    return moved.quantize(TICK, ROUND_HALF_EVEN)


async def _counts(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {schema}.{t}") for t in TABLES}


async def _get(
    http: aiohttp.ClientSession, base: str, path: str, params: dict[str, str] | None = None
) -> Any:
    async with http.get(base + path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return json.loads(await resp.text())


async def _post(http: aiohttp.ClientSession, base: str, path: str, body: dict[str, Any]) -> Any:
    async with http.post(base + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()
