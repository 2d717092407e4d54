"""Router cores over the fake venues, and the fake venues' user-stream events delivered."""

from __future__ import annotations

from typing import Any

import asyncpg

from greenlight.core.clock import Clock
from router import lifecycle
from router.core import Core
from router.markets.desks import USDM
from router.markets.usdm import UsdmMarket
from router.sender import FuturesSender, OrderSender
from router.usdm_service import on_algo
from router.venues.base import AlgoReport, ExecutionEvent
from router.wiring import build_core
from tests.fakes.venues import FakeSpot, FakeUsdm


def spot_core(pool: asyncpg.Pool, fake: FakeSpot, settle_s: float = 0.01, **kw: Any) -> Core:
    """A router core whose spot market is ``fake`` (venue name ``sim``)."""
    return build_core(pool, "sim", (fake, OrderSender(fake, settle_s)), **kw)


def usdm_core(
    pool: asyncpg.Pool, spot: FakeSpot, fut: FakeUsdm, settle_s: float = 0.01, **kw: Any
) -> Core:
    """A router core with the fake spot and the fake USD-M venue."""
    return build_core(
        pool, "sim", (spot, OrderSender(spot, settle_s)), (fut, FuturesSender(fut, settle_s)), **kw
    )


async def deliver_spot(core: Core, fake: FakeSpot) -> None:
    """Hand the spot venue's queued execution reports to the router, in order."""
    events, fake.events = fake.events, []
    for ev in events:
        await lifecycle.on_execution(core, ev)


async def deliver_usdm(core: Core, fut: FakeUsdm) -> None:
    """Hand the USD-M venue's queued order and algo updates to the router, in order."""
    events, fut.events = fut.events, []
    market = core.market(USDM)
    assert isinstance(market, UsdmMarket)
    for ev in events:
        if isinstance(ev, ExecutionEvent):
            await lifecycle.on_execution(core, ev)
        elif isinstance(ev, AlgoReport):
            await on_algo(core, market, ev)


__all__ = ["Clock", "deliver_spot", "deliver_usdm", "spot_core", "usdm_core"]
