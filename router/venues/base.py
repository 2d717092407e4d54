"""The venue seam: typed order structures and the interface every venue adapter provides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from engine.symbols import SymbolRules

TERMINAL_STATUSES = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"})


@dataclass(frozen=True)
class TradeFill:
    """One execution of an order."""

    trade_id: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str | None
    time_ms: int


@dataclass(frozen=True)
class OrderReport:
    """The state of one order as the venue reports it (REST response or query)."""

    symbol: str
    order_id: str
    client_order_id: str
    order_list_id: int
    status: str
    side: str
    order_type: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote: Decimal
    stop_price: Decimal
    time_ms: int
    fills: tuple[TradeFill, ...] = ()


@dataclass(frozen=True)
class OrderListReport:
    """The response to an OCO placement."""

    order_list_id: int
    list_client_order_id: str
    list_order_status: str
    orders: tuple[OrderReport, ...]


@dataclass(frozen=True)
class ExecutionEvent:
    """A user-data ``executionReport``: an order changed and maybe traded."""

    symbol: str
    client_order_id: str
    order_id: str
    order_list_id: int
    side: str
    order_type: str
    execution_type: str
    status: str
    orig_qty: Decimal
    cum_qty: Decimal
    cum_quote: Decimal
    reject_reason: str
    event_time_ms: int
    fill: TradeFill | None


@dataclass(frozen=True)
class NewOrder:
    """A plain order to place."""

    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None


@dataclass(frozen=True)
class NewOco:
    """A SELL (or BUY) OCO: a LIMIT_MAKER take-profit above and a STOP_LOSS below."""

    symbol: str
    side: str
    quantity: Decimal
    take_profit_price: Decimal
    stop_price: Decimal
    list_client_id: str
    take_profit_client_id: str
    stop_client_id: str


ExecutionHandler = Callable[[ExecutionEvent], Awaitable[None]]


class SpotVenue(Protocol):
    """What the router needs from a spot venue. Raises :mod:`router.errors` exceptions."""

    name: str

    async def start(self) -> None:
        """Open connections, sync time, load exchange rules, check key permissions."""

    async def close(self) -> None:
        """Release connections."""

    async def rules(self, symbol: str) -> SymbolRules:
        """Cached trading rules for ``symbol``."""

    async def place_order(self, order: NewOrder) -> OrderReport:
        """Place an order (full response with fills)."""

    async def place_oco(self, oco: NewOco) -> OrderListReport:
        """Place a one-cancels-the-other pair."""

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Look an order up by client id; ``OrderNotFoundError`` if the venue never saw it."""

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Cancel one order by client id."""

    async def cancel_order_list(self, symbol: str, list_client_id: str) -> None:
        """Cancel a whole order list by its client id."""

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """All open orders on ``symbol``."""

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """All executions of one order."""


class UserStream(Protocol):
    """A user-data subscription delivering :class:`ExecutionEvent` to a handler."""

    connected: bool

    async def run(
        self, on_event: ExecutionHandler, on_connected: Callable[[], Awaitable[None]]
    ) -> None:
        """Connect, subscribe and deliver events forever, reconnecting on loss."""
