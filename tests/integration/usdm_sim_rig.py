"""A simulator serving USD-M with the router process on top of it (shared by the USD-M router
tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

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
from router.service import serve_router
from router.venues.base import TradeFill
from router.venues.binance_usdm import BinanceUsdm
from sim.server import SimAccount, SimConfig, SimServer
from tests.conftest import DATA, free_port
from tests.integration.router_support import (
    decision_state,
    stop_router_task,
    wait_router_ready,
)
from tests.integration.router_usdm_support import insert_usdm_decision, usdm_bracket

TOKEN = "usdm-sim-token"


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
        self.task = asyncio.create_task(
            serve_router(self.settings, self.db_url, TOKEN, ready, spot, fut, self.keepalive_s)
        )
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
        return await insert_usdm_decision(
            self.pool, usdm_bracket(side, str(p), str(sl), targets, qty, leverage=2)
        )

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
    db_url: str,
    pool: asyncpg.Pool,
    key_ttl_s: float = 3600.0,
    keepalive_s: float = 0.5,
    guards: GuardSettings | None = None,
    candles_per_second: float = 8.0,
    router: dict[str, Any] | None = None,
) -> AsyncIterator[Rig]:
    """Simulator (listen keys valid ``key_ttl_s``) + router (keepalive every ``keepalive_s``,
    the given guard thresholds, ``router`` settings beside the port)."""
    account = SimAccount(SIM_DEMO_API_SECRET, {"USDT": D(10000)}, futures_usdt=D(10000))
    sim = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / Path("BTCUSDT-15m-2019-2020.csv.gz")},
            futures_files={"XRPUSDT": DATA / Path("XRPUSDT-perp-5m-futures.csv")},
            candles_per_second=candles_per_second,
            accounts={SIM_DEMO_API_KEY: account},
            listen_key_ttl=key_ttl_s,
        )
    )
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
