"""The seam between the router's flow and a market: one protocol, one implementation per
market. Every method takes the decision's :class:`router.snapshot.Snapshot` (read under
the decision's lock by the caller) rather than a decision id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules
from router.bracket_checks import Carry
from router.differences import DifferenceMemory
from router.equity import AccountSnapshot
from router.ledger import PositionFigures
from router.sender import OrderSender
from router.snapshot import Snapshot
from router.store import OrderRow
from router.venues.base import NewOrder, NewOtoco, OrderReport, TradeFill


@dataclass(frozen=True)
class EntryPlan:
    """How a bracket enters: the entry order, the price its filters were checked at, the
    rows recorded (``NEW_PENDING``) with the claim — the entry's first — and, for a spot
    LIMIT entry, the OTOCO that carries it with rung 1's pending protection."""

    order: NewOrder
    check_price: Decimal
    rows: tuple[OrderRow, ...] = ()
    otoco: NewOtoco | None = None


class Market(Protocol):
    """What the router's flow asks of a market (spot, USD-M)."""

    name: str  # the decisions.market / orders.market value
    equity_key: str  # control row of the published equity
    snapshot_key: str  # control row of the account snapshot it came from
    fetch_trades: bool  # fetch an order's missing trades with every REST answer
    entries_expire: bool  # a working entry's unfilled remainder ends at the time-to-live
    carry: Carry  # how a position is carried: margined or the whole notional

    @property
    def sender(self) -> OrderSender:
        """The order sender of this market (unknown outcomes are looked up, never resent)."""
        ...

    async def rules(self, symbol: str) -> SymbolRules:
        """The symbol's trading rules on this market (cached by the venue adapter)."""
        ...

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price."""
        ...

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """A plain order by client id (``OrderNotFoundError`` if the venue never saw it)."""
        ...

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """All executions of one order."""
        ...

    def figures(
        self, fills: Sequence[asyncpg.Record], rules: SymbolRules, side: str
    ) -> PositionFigures:
        """The position a decision's fills make on this market."""
        ...

    async def account_equity(self) -> Decimal | None:
        """The equity the venue reports now (before the first published snapshot)."""
        ...

    async def account_snapshot(self) -> AccountSnapshot:
        """The account, marked to market, from one venue answer."""
        ...

    async def admit_ladder(self, decision_id: int, bracket: Bracket) -> Bracket:
        """The bracket whose whole protection the venue will let rest (merged if needed);
        ``ValueError`` naming why none fits."""
        ...

    async def prepare_entry(self, decision_id: int, bracket: Bracket) -> EntryPlan:
        """Check the bracket against the symbol's filters and prepare the account (no order
        yet); ``ValueError`` names what is wrong."""
        ...

    async def send_entry(self, snap: Snapshot, plan: EntryPlan) -> None:
        """Send the recorded entry and apply the venue's answer."""
        ...

    async def protect(self, snap: Snapshot) -> None:
        """Make the protective orders cover exactly the open position."""
        ...

    async def close_when_flat(self, snap: Snapshot) -> None:
        """After the entry ended: when the position is flat, leave nothing resting and
        close the decision with its PnL (alert when something is open and unprotected)."""
        ...

    async def halt(self, snap: Snapshot, flatten: bool) -> None:
        """Kill switch: cancel a working entry; with ``flatten`` close the position too."""
        ...

    async def expire_entry(self, snap: Snapshot, entry: asyncpg.Record) -> None:
        """The decision's time-to-live is over: cancel the entry's unfilled remainder."""
        ...

    async def reconcile(self, snap: Snapshot, unknown: set[str]) -> int:
        """Make the decision's orders agree with the venue; return the differences found
        (client ids the venue does not know are added to ``unknown``)."""
        ...

    async def reconcile_account(
        self, live: list[asyncpg.Record], memory: DifferenceMemory, confirm: bool
    ) -> int:
        """Compare the account (foreign orders, holdings or positions) with our books."""
        ...

    async def venue_view(self, row: asyncpg.Record) -> tuple[str, Decimal] | None:
        """An order's status and executed quantity on the venue; ``None`` if unknown."""
        ...


class VenueReading(Protocol):
    """The reads both venue adapters answer alike."""

    async def rules(self, symbol: str) -> SymbolRules:
        """Trading rules of ``symbol`` (cached by the adapter)."""
        ...

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price."""
        ...

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """An order by client id."""
        ...

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """All executions of one order."""
        ...


class VenueReads:
    """The part of :class:`Market` a market answers straight from its venue adapter."""

    venue: VenueReading

    async def rules(self, symbol: str) -> SymbolRules:
        """The symbol's trading rules (cached by the adapter)."""
        return await self.venue.rules(symbol)

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price."""
        return await self.venue.last_price(symbol)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """An order by client id (USD-M: a plain order, not an algo one)."""
        return await self.venue.query_order(symbol, client_order_id)

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """All executions of one order (USD-M: with realized PnL)."""
        return await self.venue.trades(symbol, order_id)
