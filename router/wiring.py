"""The edge of the router process: the real venues built from settings and secrets, and the
:class:`router.core.Core` with its markets. Tests build the same pieces around fakes."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from greenlight.core.clock import Clock, SystemClock
from greenlight.core.settings import Settings
from router.bracket_checks import BracketLimits
from router.core import Core
from router.markets.spot import SpotMarket
from router.markets.usdm import UsdmMarket
from router.sender import FuturesSender, OrderSender
from router.venues.base import FuturesVenue, SpotVenue
from router.venues.binance_http import VenueConfig
from router.venues.binance_spot import BinanceSpot
from router.venues.binance_usdm import BinanceUsdm
from router.venues.binance_usdm_stream import KEEPALIVE_S, UsdmUserStream
from router.venues.binance_userstream import BinanceUserStream


@dataclass
class UsdmVenue:
    """The USD-M adapter and its listen-key user stream."""

    rest: BinanceUsdm
    stream: UsdmUserStream


@dataclass
class Venues:
    """What the router process talks to: the spot adapter and its user stream, and the
    USD-M pair when futures symbols are traded."""

    spot: BinanceSpot
    stream: BinanceUserStream
    usdm: UsdmVenue | None = None


def build_venues(
    config: VenueConfig,
    futures: VenueConfig | None,
    keepalive_s: float = KEEPALIVE_S,
    clock: Clock | None = None,
) -> Venues:
    """The Binance (or simulator) adapters for ``config`` and, when given, ``futures``, all
    reading ``clock``."""
    clock = clock or SystemClock()
    spot = BinanceSpot(config, clock=clock)
    stream = BinanceUserStream(config, lambda: spot.time_offset_ms, clock)
    usdm = None
    if futures is not None:
        rest = BinanceUsdm(futures, clock=clock)
        usdm = UsdmVenue(
            rest, UsdmUserStream(rest, futures.ws_url, keepalive_s, futures.timeout_s, clock)
        )
    return Venues(spot, stream, usdm)


def settle_s(settings: Settings) -> float:
    """How long an unknown outcome is looked up before a resend: recvWindow plus a second."""
    return settings.venue.recv_window_ms / 1000 + 1.0


def build_core(
    pool: asyncpg.Pool,
    venue_name: str,
    spot: tuple[SpotVenue, OrderSender],
    usdm: tuple[FuturesVenue, FuturesSender] | None = None,
    *,
    clock: Clock | None = None,
    leverage_cap: int = 3,
    margin_type: str = "ISOLATED",
    limits: BracketLimits | None = None,
    routed_timeout_s: float = 60.0,
) -> Core:
    """A :class:`Core` with the spot market and, when given, the USD-M market."""
    core = Core(
        pool,
        venue_name,
        clock or SystemClock(),
        leverage_cap=leverage_cap,
        limits=limits or BracketLimits(),
        routed_timeout_s=routed_timeout_s,
    )
    core.add_market(SpotMarket(core, *spot))
    if usdm is not None:
        core.add_market(UsdmMarket(core, *usdm, margin_type))
    return core


def core_from_settings(
    settings: Settings, pool: asyncpg.Pool, venues: Venues, clock: Clock, venue_name: str
) -> Core:
    """The process's :class:`Core` over ``venues``, limits and timeouts from ``settings``."""
    settle = settle_s(settings)
    usdm = None
    if venues.usdm is not None:
        usdm = (venues.usdm.rest, FuturesSender(venues.usdm.rest, settle))
    return build_core(
        pool,
        venue_name,
        (venues.spot, OrderSender(venues.spot, settle)),
        usdm,
        clock=clock,
        leverage_cap=settings.futures.leverage_cap,
        margin_type=settings.futures.margin_type,
        limits=BracketLimits.from_settings(settings),
        routed_timeout_s=settings.router.routed_timeout_s,
    )
