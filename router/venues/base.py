"""The venue seam: typed order structures and the interface every venue adapter provides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from greenlight.core.symbols import SymbolRules

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
    realized_pnl: Decimal = Decimal(0)


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
    reduce_only: bool = False


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


@dataclass(frozen=True)
class NewOtoco:
    """A working LIMIT entry whose fill activates a pending OCO (``orderList/otoco``)."""

    entry: NewOrder
    protection: NewOco


ExecutionHandler = Callable[[ExecutionEvent], Awaitable[None]]


class OrderVenue(Protocol):
    """The part of a venue the order sender needs (spot and futures alike)."""

    async def place_order(self, order: NewOrder) -> OrderReport:
        """Place an order."""

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Look an order up by client id; ``OrderNotFoundError`` if the venue never saw it."""


class SpotVenue(Protocol):
    """What the router needs from a spot venue. Raises :mod:`router.errors` exceptions."""

    name: str

    async def start(self) -> None:
        """Open connections, sync time, load exchange rules, check key permissions."""

    async def close(self) -> None:
        """Release connections."""

    async def rules(self, symbol: str) -> SymbolRules:
        """Cached trading rules for ``symbol``."""

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price of ``symbol``."""

    async def place_order(self, order: NewOrder) -> OrderReport:
        """Place an order (full response with fills)."""

    async def place_oco(self, oco: NewOco) -> OrderListReport:
        """Place a one-cancels-the-other pair."""

    async def place_otoco(self, otoco: NewOtoco) -> OrderListReport:
        """Place a working entry with a pending OCO that activates once it is fully filled."""

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

    async def balances(self) -> dict[str, Decimal]:
        """Free + locked balance per asset."""

    async def server_time(self) -> int:
        """The venue's clock (ms)."""
        ...


class UserStream(Protocol):
    """A user-data subscription delivering :class:`ExecutionEvent` to a handler."""

    connected: bool

    async def run(
        self, on_event: ExecutionHandler, on_connected: Callable[[], Awaitable[None]]
    ) -> None:
        """Connect, subscribe and deliver events forever, reconnecting on loss."""


ALGO_TERMINAL = frozenset({"CANCELED", "FINISHED", "REJECTED", "EXPIRED"})


@dataclass(frozen=True)
class NewAlgoOrder:
    """A USD-M conditional order for ``/fapi/v1/algoOrder`` (``algoType=CONDITIONAL``).

    ``close_position`` closes whatever is open when triggered (no quantity); otherwise
    ``quantity`` with ``reduce_only``.
    """

    symbol: str
    side: str
    order_type: str
    trigger_price: Decimal
    client_algo_id: str
    quantity: Decimal | None = None
    close_position: bool = False
    reduce_only: bool = True
    working_type: str = "CONTRACT_PRICE"


@dataclass(frozen=True)
class AlgoReport:
    """The state of one conditional order as the venue reports it."""

    symbol: str
    algo_id: str
    client_algo_id: str
    order_type: str
    side: str
    status: str
    trigger_price: Decimal
    quantity: Decimal
    close_position: bool
    actual_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    reject_reason: str = ""


@dataclass(frozen=True)
class FuturesPosition:
    """One-way-mode position of a symbol: ``amount`` is signed (negative = short)."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    margin_type: str


@dataclass(frozen=True)
class FuturesBalance:
    """USD-M wallet of one asset."""

    asset: str
    wallet: Decimal
    unrealized_pnl: Decimal
    available: Decimal


@dataclass(frozen=True)
class FuturesAccount:
    """One ``GET /fapi/v2/account`` answer: wallet and positions from the same moment."""

    wallet: Decimal  # total wallet balance (cross and isolated)
    unrealized_pnl: Decimal  # of every position, at the venue's mark prices
    positions: tuple[FuturesPosition, ...]  # the non-zero ones


AlgoHandler = Callable[[AlgoReport], Awaitable[None]]


class FuturesVenue(OrderVenue, Protocol):
    """What the router needs from a USD-M venue. Raises :mod:`router.errors` exceptions."""

    name: str

    async def start(self) -> None:
        """Open connections, sync time, refuse hedge mode and keys that can withdraw."""

    async def close(self) -> None:
        """Release connections."""

    async def rules(self, symbol: str) -> SymbolRules:
        """Cached trading rules for ``symbol``."""

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price of ``symbol``."""

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set the symbol's leverage; return what the venue applied."""

    async def ensure_margin_type(self, symbol: str, margin_type: str) -> bool:
        """Set the margin type; ``False`` when it already was (``-4046`` tolerated)."""

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Cancel one plain order by client id."""

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        """All executions of one order (with realized PnL)."""

    async def place_algo(self, algo: NewAlgoOrder) -> AlgoReport:
        """Place a conditional order."""

    async def query_algo(self, symbol: str, client_algo_id: str) -> AlgoReport:
        """Look a conditional order up by client id (``OrderNotFoundError`` if unknown)."""

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> AlgoReport:
        """Cancel a conditional order by client id."""

    async def open_algos(self, symbol: str) -> list[AlgoReport]:
        """Open conditional orders on ``symbol``."""

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """Open plain orders on ``symbol``."""

    async def positions(self) -> list[FuturesPosition]:
        """Every non-zero position."""

    async def account(self) -> FuturesAccount:
        """Wallet, unrealized PnL and positions in one consistent snapshot."""
        ...

    async def server_time(self) -> int:
        """The venue's clock (ms)."""
        ...

    async def balances(self) -> dict[str, FuturesBalance]:
        """Wallet balances per asset."""
