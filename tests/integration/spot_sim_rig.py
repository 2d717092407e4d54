"""A spot simulator with the router process on top of it (shared by the router tests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal as D

import aiohttp
import asyncpg

from greenlight.core.settings import Settings
from router.client import RouterClient
from router.service import serve_router
from router.venues.binance_spot import BinanceSpot
from sim.server import SimServer
from tests.integration.router_support import (
    decision_state,
    insert_decision,
    make_bracket,
    stop_router_task,
    wait_router_ready,
)

TOKEN = "sim-test-token"


@dataclass
class Rig:
    """A running simulator, a router on top of it and a venue client for checks."""

    sim: SimServer
    settings: Settings
    db_url: str
    pool: asyncpg.Pool
    venue: BinanceSpot
    client: RouterClient
    task: asyncio.Task[None] | None = None

    async def start_router(self) -> None:
        ready = asyncio.Event()
        self.task = asyncio.create_task(serve_router(self.settings, self.db_url, TOKEN, ready))
        await wait_router_ready(self.task, ready)

    async def stop_router(self) -> None:
        assert self.task is not None
        await stop_router_task(self.task)

    async def price(self) -> D:
        url = f"{self.sim.base_url}/api/v3/ticker/price?symbol=BTCUSDT"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return D((await resp.json())["price"])

    async def bracket_around(
        self, down: str, up: tuple[str, ...], qty: str = "0.02", state: str = "APPROVED"
    ) -> int:
        p = await self.price()
        q = D("0.01")
        tps = tuple(str((p * (1 + D(u))).quantize(q)) for u in up)
        b = make_bracket(str(p), str((p * (1 - D(down))).quantize(q)), tps, qty)
        return await insert_decision(self.pool, b, state)


async def venue_matches_db(r: Rig) -> bool:
    """Base asset held on the venue equals the open quantity of our positions."""
    held = (await r.venue.balances()).get("BTC", D(0))
    ours = await r.pool.fetchval("SELECT coalesce(sum(open_quantity), 0) FROM positions")
    return bool(held == ours)


async def state_is(rig: Rig, decision_id: int, state: str) -> bool:
    return await decision_state(rig.pool, decision_id) == state
