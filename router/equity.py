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
few seconds and right after every fill (see :class:`router.service.RouterService`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import asyncpg

from router.errors import VenueError
from router.venues.base import FuturesVenue

log = logging.getLogger(__name__)
QUOTE = "USDT"
SPOT_KEY = "equity_quote"
USDM_KEY = "equity_quote_usdm"
SNAPSHOT_KEYS = {"spot": "account_spot", "usdm": "account_usdm"}
EQUITY_KEYS = {"spot": SPOT_KEY, "usdm": USDM_KEY}


class SpotAccount(Protocol):
    """What a spot venue answers about the account: balances and last prices."""

    async def balances(self) -> dict[str, Decimal]:
        """Free + locked per asset, from one account answer."""
        ...

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price of ``symbol``."""
        ...

    async def server_time(self) -> int:
        """The venue's clock (ms)."""
        ...


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

    market: str  # "spot" | "usdm"
    cash: Decimal  # spot: the quote asset, free + locked; USD-M: the wallet balance
    holdings: tuple[Holding, ...]
    equity: Decimal
    venue_time_ms: int  # the venue's clock when the snapshot was taken

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


async def spot_snapshot(venue: SpotAccount) -> AccountSnapshot:
    """Balances from one ``/api/v3/account`` answer, each non-quote asset at its last price
    (an asset without a ``<ASSET>USDT`` market is left out, with a warning)."""
    at = await venue.server_time()
    balances = await venue.balances()
    cash = balances.get(QUOTE, Decimal(0))
    holdings = []
    for asset, qty in sorted(balances.items()):
        if asset == QUOTE or qty == 0:
            continue
        symbol = f"{asset}{QUOTE}"
        try:
            price = await venue.last_price(symbol)
        except VenueError as exc:
            log.warning("equity: %s %s not valued (no price for %s: %s)", qty, asset, symbol, exc)
            continue
        holdings.append(Holding(symbol, qty, price))
    equity = cash + sum((h.quantity * h.price for h in holdings), Decimal(0))
    return AccountSnapshot("spot", cash, tuple(holdings), equity, at)


async def usdm_snapshot(venue: FuturesVenue) -> AccountSnapshot:
    """Wallet and positions from one ``/fapi/v2/account`` answer."""
    at = await venue.server_time()
    acct = await venue.account()
    holdings = tuple(
        Holding(p.symbol, p.amount, entry_price=p.entry_price, unrealized=p.unrealized_pnl)
        for p in acct.positions
    )
    equity = acct.wallet + acct.unrealized_pnl
    return AccountSnapshot("usdm", acct.wallet, holdings, equity, at)


async def store_snapshot(pool: asyncpg.Pool, snap: AccountSnapshot) -> None:
    """Write the equity figure and its snapshot together; the first snapshot of a venue
    day also becomes that day's opening equity (``<equity key>_day_open``)."""
    key = EQUITY_KEYS[snap.market]
    rows: list[tuple[str, Any]] = [
        (key, str(snap.equity)),
        (SNAPSHOT_KEYS[snap.market], snap.to_json()),
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


async def publish_equity(pool: asyncpg.Pool, venue: SpotAccount) -> Decimal:
    """Snapshot the spot account, store it; return its equity."""
    snap = await spot_snapshot(venue)
    await store_snapshot(pool, snap)
    return snap.equity


async def publish_usdm_equity(pool: asyncpg.Pool, venue: FuturesVenue) -> Decimal:
    """Snapshot the USD-M account, store it; return its equity (the margin balance)."""
    snap = await usdm_snapshot(venue)
    await store_snapshot(pool, snap)
    return snap.equity


class EquityPublisher:
    """Publishes both markets' snapshots on demand (after a fill) and on a timer; calls
    ``after`` (e.g. the drawdown guard) after each round."""

    def __init__(
        self, pool: asyncpg.Pool, venue: SpotAccount, futures: FuturesVenue | None = None
    ) -> None:
        self.after: Callable[[], Awaitable[Any]] | None = None
        self._jobs: dict[str, Callable[[], Awaitable[Decimal]]] = {
            "spot": lambda: publish_equity(pool, venue)
        }
        if futures is not None:
            self._jobs["usdm"] = lambda: publish_usdm_equity(pool, futures)

    async def publish(self, market: str | None = None) -> None:
        """Publish ``market`` (both when ``None``); a failure is logged, never raised."""
        for name, job in self._jobs.items():
            if market is not None and name != market:
                continue
            try:
                await job()
            except (VenueError, OSError, asyncpg.PostgresError) as exc:
                log.warning("%s equity not refreshed: %s", name, exc)
        if self.after is not None:
            await self.after()

    async def run(self, every_s: float = 5.0) -> None:
        """Refresh every ``every_s`` seconds until cancelled."""
        while True:
            await self.publish()
            await asyncio.sleep(every_s)


async def keep_publishing(
    pool: asyncpg.Pool,
    venue: SpotAccount,
    every_s: float = 5.0,
    futures: FuturesVenue | None = None,
) -> None:
    """Refresh the published equity (spot, and USD-M when present) until cancelled."""
    await EquityPublisher(pool, venue, futures).run(every_s)
