"""Publish account equity for the engine's position sizing and the drawdown guard.

The engine never holds exchange keys, so the router reads the balances and writes the
quote asset's total to the ``control`` table: ``equity_quote`` (spot: free + locked) and
``equity_quote_usdm`` (USD-M: wallet + unrealized PnL, i.e. the margin balance).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg

from router.errors import VenueError
from router.venues.base import FuturesVenue
from router.venues.binance_spot import BinanceSpot

log = logging.getLogger(__name__)
QUOTE = "USDT"
SPOT_KEY = "equity_quote"
USDM_KEY = "equity_quote_usdm"


async def _store(pool: asyncpg.Pool, key: str, total: Decimal) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO control (key, value, updated_by) VALUES ($1, $2, 'router')"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
            " updated_at = clock_timestamp(), updated_by = 'router'",
            key,
            str(total),
        )


async def publish_equity(pool: asyncpg.Pool, venue: BinanceSpot) -> Decimal:
    """Read the spot balances and store the quote-asset total; return it."""
    balances = await venue.balances()
    total = balances.get(QUOTE, Decimal(0))
    await _store(pool, SPOT_KEY, total)
    return total


async def publish_usdm_equity(pool: asyncpg.Pool, venue: FuturesVenue) -> Decimal:
    """Read the USD-M wallet and store wallet + unrealized PnL of the quote asset."""
    balance = (await venue.balances()).get(QUOTE)
    total = balance.wallet + balance.unrealized_pnl if balance else Decimal(0)
    await _store(pool, USDM_KEY, total)
    return total


async def keep_publishing(
    pool: asyncpg.Pool,
    venue: BinanceSpot,
    every_s: float = 5.0,
    futures: FuturesVenue | None = None,
) -> None:
    """Refresh the published equity (spot, and USD-M when present) until cancelled."""
    jobs: list[Callable[[], Awaitable[Decimal]]] = [lambda: publish_equity(pool, venue)]
    if futures is not None:
        jobs.append(lambda: publish_usdm_equity(pool, futures))
    while True:
        for job in jobs:
            try:
                await job()
            except (VenueError, OSError, asyncpg.PostgresError) as exc:
                log.warning("equity not refreshed: %s", exc)
        await asyncio.sleep(every_s)
