"""USD-M brackets through the router process against the simulator's ``/fapi`` endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from yarl import URL

from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from greenlight.core.settings import (
    GuardSettings,
    MarketSettings,
    RouterSettings,
    Settings,
    SimSettings,
    VenueSettings,
)
from router.client import RouterClient
from router.config import futures_config, venue_config
from router.errors import InvalidOrderError, PositionModeError, VenueError
from router.service import serve_router
from router.signing import signed_query
from router.venues.base import TradeFill
from router.venues.binance_usdm import BinanceUsdm
from sim.server import SimAccount, SimConfig, SimServer
from tests.conftest import DATA, free_port
from tests.helpers import eventually
from tests.integration.test_router_support import (
    decision_state,
    stop_router_task,
    wait_router_ready,
)
from tests.integration.test_router_usdm_support import insert_usdm_decision, usdm_bracket

TOKEN = "usdm-sim-token"
pytestmark = pytest.mark.timeout(120)


@dataclass
class Rig:
    """A simulator with USD-M, a router on top of it and a futures client for checks."""

    sim: SimServer
    settings: Settings
    db_url: str
    pool: asyncpg.Pool
    venue: BinanceUsdm
    client: RouterClient
    keepalive_s: float = 0.5
    task: asyncio.Task[None] | None = None

    async def start_router(self) -> None:
        ready = asyncio.Event()
        spot = venue_config(self.settings, {})
        fut = futures_config(self.settings, {})
        self.task = asyncio.create_task(serve_router(
            self.settings, self.db_url, TOKEN, ready, spot, fut, self.keepalive_s))  # fmt: skip
        await wait_router_ready(self.task, ready)

    async def stop_router(self) -> None:
        assert self.task is not None
        await stop_router_task(self.task)

    async def price(self) -> D:
        url = f"{self.sim.base_url}/fapi/v1/ticker/price?symbol=XRPUSDT"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return D(str((await resp.json())["price"]))

    async def bracket(self, side: str, stop: str, tps: tuple[str, ...], qty: str = "300") -> int:
        """A bracket around the current price; ``stop``/``tps`` are fractions away from it."""
        p = await self.price()
        sign = 1 if side == "BUY" else -1
        q = D("0.0001")
        sl = (p * (1 - sign * D(stop))).quantize(q)
        targets = tuple(str((p * (1 + sign * D(t))).quantize(q)) for t in tps)
        return await insert_usdm_decision(self.pool, usdm_bracket(side, str(p), str(sl), targets,
                                                                  qty, leverage=2))  # fmt: skip

    async def admin(self, action: str) -> None:
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{self.sim.base_url}/sim/admin/{action}")
            assert resp.status == 200, await resp.text()

    async def venue_position(self) -> D:
        return sum((p.amount for p in await self.venue.positions()), D(0))

    async def db_position(self) -> D:
        value = await self.pool.fetchval(
            "SELECT coalesce(sum(CASE WHEN side = 'BUY' THEN open_quantity"
            " ELSE -open_quantity END), 0) FROM positions WHERE state = 'OPEN'"
        )
        return D(value)


@contextlib.asynccontextmanager
async def running_rig(
    db_url: str, pool: asyncpg.Pool, key_ttl_s: float = 3600.0, keepalive_s: float = 0.5,
    guards: GuardSettings | None = None, candles_per_second: float = 8.0,
    router: dict[str, Any] | None = None,
) -> AsyncIterator[Rig]:  # fmt: skip
    """Simulator (listen keys valid ``key_ttl_s``) + router (keepalive every ``keepalive_s``,
    the given guard thresholds, ``router`` settings beside the port)."""
    account = SimAccount(SIM_DEMO_API_SECRET, {"USDT": D(10000)}, futures_usdt=D(10000))
    sim = SimServer(SimConfig(
        files={"BTCUSDT": DATA / Path("BTCUSDT-15m-2019-2020.csv.gz")},
        futures_files={"XRPUSDT": DATA / Path("XRPUSDT-perp-5m-futures.csv")},
        candles_per_second=candles_per_second, accounts={SIM_DEMO_API_KEY: account},
        listen_key_ttl=key_ttl_s,
    ))  # fmt: skip
    await sim.start()
    settings = Settings(
        venue=VenueSettings(name="sim", recv_window_ms=1000),
        sim=SimSettings(port=sim.port),
        router=RouterSettings(port=free_port(), **(router or {})),
        market=MarketSettings(symbols=("BTCUSDT",), futures_symbols=("XRPUSDT",)),
        guards=guards or GuardSettings(),
    )
    fut = futures_config(settings, {})
    assert fut is not None
    venue = BinanceUsdm(fut)
    await venue.start()
    client = RouterClient(f"http://127.0.0.1:{settings.router.port}", TOKEN)
    r = Rig(sim, settings, db_url, pool, venue, client, keepalive_s)
    try:
        await r.start_router()
        yield r
    finally:
        if r.task is not None and not r.task.done():
            await r.stop_router()
        await client.close()
        await venue.close()
        await sim.stop()


@pytest_asyncio.fixture
async def rig(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[Rig]:
    async with running_rig(db_url, pool) as r:
        yield r


async def closed(r: Rig, d: int) -> bool:
    return await decision_state(r.pool, d) == "CLOSED"


async def assert_clean_close(r: Rig, d: int) -> None:
    assert await r.venue.open_algos("XRPUSDT") == []  # nothing left resting
    assert await r.venue_position() == 0 == await r.db_position()
    row = await r.pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    pos = await r.pool.fetchrow("SELECT * FROM positions WHERE decision_id = $1", d)
    assert row["realized_pnl"] == pos["realized_pnl"] and row["realized_pnl"] != 0
    trades = await venue_trades(r, d)
    fees = sum((t.commission for t in trades), D(0))
    rp = sum((t.realized_pnl for t in trades), D(0))
    assert fees > 0
    assert row["realized_pnl"] == rp - fees  # our PnL from fills equals the venue's rp − fees
    db_fills = await r.pool.fetchval("SELECT count(*) FROM fills WHERE decision_id = $1", d)
    assert db_fills == len(trades)
    alerts = [a["text"] for a in await r.pool.fetch("SELECT text FROM alerts")]
    assert any(f"Closed #D-{d}" in a for a in alerts)


async def venue_trades(r: Rig, d: int) -> list[TradeFill]:
    """Every venue trade of the decision: plain orders by id, algo legs by triggered order."""
    trades: list[TradeFill] = []
    for o in await r.pool.fetch("SELECT * FROM orders WHERE decision_id = $1", d):
        if o["order_type"] == "MARKET" and o["venue_order_id"]:
            trades += await r.venue.trades("XRPUSDT", o["venue_order_id"])
        elif o["order_type"] != "MARKET":
            algo = await r.venue.query_algo("XRPUSDT", o["client_order_id"])
            if algo.actual_order_id:
                trades += await r.venue.trades("XRPUSDT", algo.actual_order_id)
    return trades


async def test_futures_bracket_runs_to_close_without_orphans(rig: Rig) -> None:
    await rig.admin("pause")  # the market holds still while the bracket is placed
    d = await rig.bracket("BUY", "0.006", ("0.004", "0.008"))
    result = await rig.client.submit_bracket(d)
    assert result["accepted"] and result["decision"]["entry_ack_at"] is not None
    state = await rig.client.state()
    legs = {o["leg"]: o for o in state["orders"]}
    assert legs["E"]["status"] == "FILLED" and set(legs) == {"E", "SL", "TP1", "TP2"}
    resting = {a.client_algo_id: a for a in await rig.venue.open_algos("XRPUSDT")}
    assert set(resting) == {f"gl-{d}-SL", f"gl-{d}-TP1", f"gl-{d}-TP2"}
    assert (
        resting[f"gl-{d}-SL"].close_position and resting[f"gl-{d}-SL"].order_type == "STOP_MARKET"
    )
    assert resting[f"gl-{d}-TP1"].order_type == "TAKE_PROFIT_MARKET"
    (pos,) = await rig.venue.positions()
    assert pos.leverage == 2 and pos.margin_type == "ISOLATED" and pos.amount == D(300)
    await rig.admin("resume")
    await eventually(lambda: closed(rig, d), 90, "decision CLOSED")
    await assert_clean_close(rig, d)


async def test_kill_flatten_closes_short_with_reduce_only(rig: Rig) -> None:
    await rig.admin("pause")
    d = await rig.bracket("SELL", "0.1", ("0.2",))  # a wider stop would risk > 0.55 % of equity
    await rig.client.submit_bracket(d)
    await rig.admin("resume")
    assert await rig.venue_position() == D(-300)
    out = await rig.client.kill(True, "tester")
    assert out["live"] == [d]
    await eventually(lambda: closed(rig, d), 20, "flattened decision CLOSED")
    flat = await rig.pool.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", f"gl-{d}-X")
    assert flat["side"] == "BUY" and flat["status"] == "FILLED"
    audit = await rig.pool.fetchval(
        "SELECT detail::text FROM audit_log WHERE action = 'venue.post'"
        " AND detail->'params'->>'newClientOrderId' = $1", f"gl-{d}-X")  # fmt: skip
    assert '"reduceOnly": "true"' in audit
    await assert_clean_close(rig, d)


async def test_restart_mid_bracket_reconciles_to_venue(rig: Rig) -> None:
    await rig.admin("pause")
    d = await rig.bracket("BUY", "0.004", ("0.004",))
    await rig.client.submit_bracket(d)
    await rig.stop_router()
    await rig.admin("resume")

    async def venue_flat() -> bool:
        return await rig.venue_position() == 0

    await eventually(venue_flat, 90, "the bracket ran out on the venue while we were down")
    assert await decision_state(rig.pool, d) == "OPEN"
    await rig.start_router()
    await eventually(lambda: closed(rig, d), 20, "reconciled decision CLOSED")
    await assert_clean_close(rig, d)
    alerts = [a["text"] for a in await rig.pool.fetch("SELECT text FROM alerts")]
    assert any(f"Reconciled #D-{d}" in a for a in alerts)


async def usdm_state(r: Rig) -> dict[str, Any]:
    state: dict[str, Any] = (await r.client.state())["usdm"]
    return state


async def test_listen_key_keepalive_keeps_the_stream(db_url: str, pool: asyncpg.Pool) -> None:
    async with running_rig(db_url, pool, key_ttl_s=1.5, keepalive_s=0.3) as r:

        async def kept_alive() -> bool:
            return bool((await usdm_state(r))["listen_key_keepalives"] >= 8)  # > 2 key lifetimes

        await eventually(kept_alive, 10, "listen key keepalives")
        usdm = await usdm_state(r)
        assert usdm["user_stream_connected"] and usdm["user_stream_reconnects"] == 0


async def test_listen_key_expiry_reconnects_and_reconciles(db_url: str, pool: asyncpg.Pool) -> None:
    async with running_rig(db_url, pool, key_ttl_s=1.0, keepalive_s=60) as r:
        runs = (await r.client.state())["venue"]["reconciliations"]

        async def reconnected() -> bool:
            usdm = await usdm_state(r)
            return bool(usdm["user_stream_connected"] and usdm["user_stream_reconnects"] >= 1)

        await eventually(reconnected, 10, "futures user stream back after listenKeyExpired")
        assert "expired" in (await usdm_state(r))["user_stream_error"]
        assert (await r.client.state())["venue"]["reconciliations"] > runs


async def test_hedge_mode_account_is_refused_at_start(rig: Rig) -> None:
    params = {"dualSidePosition": "true", "timestamp": str(int(time.time() * 1000))}
    url = f"{rig.sim.base_url}/fapi/v1/positionSide/dual?"
    url += signed_query(SIM_DEMO_API_SECRET, params)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(URL(url, encoded=True), headers={"X-MBX-APIKEY": SIM_DEMO_API_KEY})
        assert resp.status == 200, await resp.text()
    fresh = BinanceUsdm(rig.venue.config)
    try:
        with pytest.raises(PositionModeError, match="hedge mode"):
            await fresh.start()
    finally:
        await fresh.close()


async def test_margin_type_no_change_is_not_a_venue_error(rig: Rig) -> None:
    errors: list[VenueError] = []
    fresh = BinanceUsdm(rig.venue.config, on_error=errors.append)
    await fresh.start()
    try:
        assert await fresh.ensure_margin_type("XRPUSDT", "CROSSED") is False  # already CROSSED
        assert await fresh.ensure_margin_type("XRPUSDT", "ISOLATED") is True
        assert await fresh.ensure_margin_type("XRPUSDT", "ISOLATED") is False
        assert await fresh.set_leverage("XRPUSDT", 3) == 3
        with pytest.raises(InvalidOrderError):
            await fresh.set_leverage("XRPUSDT", 500)  # -4028
    finally:
        await fresh.close()
    assert [e.code for e in errors] == [-4028]


async def test_unknown_outcomes_are_adopted_not_duplicated(rig: Rig) -> None:
    await rig.admin("pause")
    async with aiohttp.ClientSession() as http:
        for path in ("/fapi/v1/order", "/fapi/v1/algoOrder"):
            fault = {"kind": "unknown_after", "count": 1, "path": path, "method": "POST"}
            resp = await http.post(f"{rig.sim.base_url}/sim/admin/faults", json=fault)
            assert resp.status == 200, await resp.text()
    d = await rig.bracket("BUY", "0.05", ("0.05", "0.1"))
    result = await rig.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    assert await rig.venue_position() == D(300)  # one entry only

    async def db_caught_up() -> bool:
        return await rig.db_position() == D(300)

    await eventually(db_caught_up, 5, "entry fills from the user stream")
    resting = sorted(a.client_algo_id for a in await rig.venue.open_algos("XRPUSDT"))
    assert resting == [f"gl-{d}-SL", f"gl-{d}-TP1", f"gl-{d}-TP2"]
    posts = await rig.pool.fetch(
        "SELECT detail->>'status' AS status, coalesce(detail->'params'->>'newClientOrderId',"
        " detail->'params'->>'clientAlgoId') AS cid FROM audit_log WHERE action = 'venue.post'"
        " AND decision_id = $1", d)  # fmt: skip
    sent = [p["cid"] for p in posts if p["cid"]]
    assert sorted(sent) == sorted({*sent}) and len(sent) == 4  # every leg sent exactly once
    assert sorted(p["status"] for p in posts if p["cid"]).count("503") == 2
    await rig.admin("resume")
