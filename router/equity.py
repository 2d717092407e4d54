"""Publish account equity for the engine's position sizing (``control.equity_quote``).

The engine never holds exchange keys, so the router reads the balances and writes the quote
asset's total (free + locked) to the ``control`` table.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import asyncpg

from router.errors import VenueError
from router.venues.binance_spot import BinanceSpot

log = logging.getLogger(__name__)
QUOTE = "USDT"


async def publish_equity(pool: asyncpg.Pool, venue: BinanceSpot) -> Decimal:
    """Read the venue balances and store the quote-asset total; return it."""
    balances = await venue.balances()
    total = balances.get(QUOTE, Decimal(0))
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO control (key, value, updated_by) VALUES ('equity_quote', $1, 'router')"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
            " updated_at = clock_timestamp(), updated_by = 'router'",
            str(total),
        )
    return total


async def keep_publishing(pool: asyncpg.Pool, venue: BinanceSpot, every_s: float = 5.0) -> None:
    """Refresh the published equity periodically until cancelled."""
    while True:
        try:
            await publish_equity(pool, venue)
        except (VenueError, OSError, asyncpg.PostgresError) as exc:
            log.warning("equity not refreshed: %s", exc)
        await asyncio.sleep(every_s)
