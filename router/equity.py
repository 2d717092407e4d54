"""Account equity, marked to market from one snapshot, published for sizing, guards and chat.

The engine never holds exchange keys, so the router reads the account and writes two rows
of the ``control`` table per market, in one transaction:

- ``equity_quote`` / ``equity_quote_usdm``: the equity in the quote asset, marked to market
  (spot: the quote asset plus every other asset held at its last price; USD-M: wallet plus
  unrealized PnL of every position at the venue's mark, i.e. the margin balance). Fees are
  in it, as they left the balances. The daily-drawdown guard, ``/status`` and the demo
  report all read this one figure.
- ``account_spot`` / ``account_usdm``: the snapshot it came from (cash, holdings with their
  prices, the equity), so that the engine can mark the same holdings at the close of the
  candle it is deciding on (:func:`engine.store.sizing_equity`).

Balances and positions come from one venue answer (spot ``/api/v3/account``; USD-M
``/fapi/v2/account``), never from a cash figure of one moment and positions of another —
mixing those is how a buy once looked like a 48 % drawdown. A snapshot is published every
few seconds and right after every fill (see :class:`router.service.RouterService`); each
market implementation takes its own (``Market.account_snapshot``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from router.errors import VenueError

log = logging.getLogger(__name__)
QUOTE = "USDT"


@dataclass(frozen=True)
class AccountKeys:
    """Where one market's account is published: its name and its two ``control`` rows."""

    market: str
    equity_key: str
    snapshot_key: str


@dataclass(frozen=True)
class Holding:
    """What the account holds besides cash: a spot asset (``quantity`` of the base asset of
    ``symbol`` at ``price``) or a USD-M position (signed ``quantity``, ``entry_price``,
    ``unrealized`` at the venue's mark)."""

    symbol: str
    quantity: Decimal
    price: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    unrealized: Decimal = Decimal(0)


@dataclass(frozen=True)
class AccountSnapshot:
    """One market's account at one moment, and its equity marked to market."""

    keys: AccountKeys
    cash: Decimal  # spot: the quote asset, free + locked; USD-M: the wallet balance
    holdings: tuple[Holding, ...]
    equity: Decimal
    venue_time_ms: int  # the venue's clock when the snapshot was taken

    @property
    def market(self) -> str:
        """The market's name."""
        return self.keys.market

    @property
    def day(self) -> str:
        """The venue's UTC day of the snapshot (the drawdown guard's day)."""
        return datetime.fromtimestamp(self.venue_time_ms / 1000, UTC).date().isoformat()

    def to_json(self) -> dict[str, Any]:
        """The ``control`` row (decimals as strings)."""
        return {
            "market": self.market,
            "quote": QUOTE,
            "cash": str(self.cash),
            "equity": str(self.equity),
            "venue_time_ms": self.venue_time_ms,
            "day": self.day,
            "holdings": [
                {
                    "symbol": h.symbol,
                    "quantity": str(h.quantity),
                    "price": str(h.price),
                    "entry_price": str(h.entry_price),
                    "unrealized": str(h.unrealized),
                }
                for h in self.holdings
            ],
        }


async def store_snapshot(pool: asyncpg.Pool, snap: AccountSnapshot) -> None:
    """Write the equity figure and its snapshot together; the first snapshot of a venue
    day also becomes that day's opening equity (``<equity key>_day_open``)."""
    key = snap.keys.equity_key
    rows: list[tuple[str, Any]] = [
        (key, str(snap.equity)),
        (snap.keys.snapshot_key, snap.to_json()),
    ]
    async with pool.acquire() as conn, conn.transaction():
        opening = await conn.fetchval("SELECT value FROM control WHERE key = $1", f"{key}_day_open")
        if not isinstance(opening, dict) or opening.get("day") != snap.day:
            rows.append((f"{key}_day_open", {"day": snap.day, "equity": str(snap.equity)}))
        for key, value in rows:
            await conn.execute(
                "INSERT INTO control (key, value, updated_by) VALUES ($1, $2::jsonb, 'router')"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                " updated_at = clock_timestamp(), updated_by = 'router'",
                key,
                value,
            )


Snapshotter = Callable[[], Awaitable[AccountSnapshot]]


async def publish(pool: asyncpg.Pool, take: Snapshotter) -> Decimal:
    """Take one account snapshot, store it; return its equity."""
    snap = await take()
    await store_snapshot(pool, snap)
    return snap.equity


class EquityPublisher:
    """Publishes every market's snapshot on demand (after a fill) and on a timer; calls
    ``after`` (e.g. the drawdown guard) after each round."""

    def __init__(self, pool: asyncpg.Pool, snapshots: dict[str, Snapshotter]) -> None:
        self.after: Callable[[], Awaitable[Any]] | None = None
        self._pool = pool
        self._jobs = dict(snapshots)

    async def publish(self, market: str | None = None) -> None:
        """Publish ``market`` (every one when ``None``); a failure is logged, never raised."""
        for name, take in self._jobs.items():
            if market is not None and name != market:
                continue
            try:
                await publish(self._pool, take)
            except (VenueError, OSError, asyncpg.PostgresError) as exc:
                log.warning("%s equity not refreshed: %s", name, exc)
        if self.after is not None:
            await self.after()

    async def run(self, every_s: float = 5.0) -> None:
        """Refresh every ``every_s`` seconds until cancelled."""
        while True:
            await self.publish()
            await asyncio.sleep(every_s)
