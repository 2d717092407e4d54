"""Order, trade, order-list and event records of the matching engine (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Side = Literal["BUY", "SELL"]
OrderType = Literal[
    "LIMIT",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
]
TimeInForce = Literal["GTC", "IOC", "FOK"]
OrderStatus = Literal[
    "PENDING_NEW", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"
]
ExecType = Literal["NEW", "CANCELED", "TRADE", "EXPIRED"]
RespType = Literal["ACK", "RESULT", "FULL"]

ORDER_TYPES: tuple[str, ...] = (
    "LIMIT",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
PRICED_TYPES = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER"})
TIF_TYPES = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
ZERO = Decimal(0)


@dataclass(frozen=True)
class OrderRequest:
    """A validated-shape new-order request (semantic checks happen in the engine)."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    client_order_id: str | None = None
    strategy_id: int | None = None
    strategy_type: int | None = None


@dataclass(frozen=True)
class OcoRequest:
    """``POST /api/v3/orderList/oco``: two legs sharing side and quantity."""

    symbol: str
    side: Side
    quantity: Decimal
    above: OrderRequest
    below: OrderRequest
    list_client_order_id: str | None = None


@dataclass(frozen=True)
class OtoRequest:
    """``POST /api/v3/orderList/oto`` / ``otoco``: a working order and one pending order
    (OTO) or a pending OCO pair (OTOCO: ``pending`` above, ``pending_below`` below)."""

    symbol: str
    working: OrderRequest
    pending: OrderRequest
    pending_below: OrderRequest | None = None
    list_client_order_id: str | None = None


@dataclass
class Order:
    """Mutable order state; snapshots (``copy()``) go into events."""

    account: str
    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: Decimal
    orig_qty: Decimal
    stop_price: Decimal
    orig_quote_qty: Decimal
    time: int
    update_time: int
    working_time: int
    status: OrderStatus = "NEW"
    executed_qty: Decimal = ZERO
    cumm_quote: Decimal = ZERO
    triggered: bool = False
    order_list_id: int = -1
    lock_asset: str = ""
    locked: Decimal = ZERO
    cancel_client_id: str = ""
    strategy_id: int | None = None
    strategy_type: int | None = None

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def is_working(self) -> bool:
        """On the book: open and not a stop still waiting for its trigger."""
        return self.is_open and (self.type not in STOP_TYPES or self.triggered)

    @property
    def remaining(self) -> Decimal:
        """Quantity not yet executed."""
        return self.orig_qty - self.executed_qty

    def copy(self) -> Order:
        """A detached snapshot."""
        return Order(**self.__dict__)


@dataclass(frozen=True)
class Trade:
    """One fill of one order."""

    trade_id: int
    order_id: int
    order_list_id: int
    account: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool


@dataclass
class OrderList:
    """An order list. OCO: two orders, one executing expires the other. OTO / OTOCO: the
    first order is the working order, the others wait as PENDING_NEW until it fills."""

    account: str
    symbol: str
    order_list_id: int
    list_client_order_id: str
    order_ids: tuple[int, ...]
    transaction_time: int
    list_status_type: str = "EXEC_STARTED"
    list_order_status: str = "EXECUTING"
    contingency_type: str = "OCO"

    def copy(self) -> OrderList:
        """A detached snapshot."""
        return OrderList(**self.__dict__)


@dataclass(frozen=True)
class OrderEvent:
    """An order changed (``executionReport``)."""

    order: Order
    exec_type: ExecType
    time: int
    trade: Trade | None = None


@dataclass(frozen=True)
class BalanceEvent:
    """Balances changed (``outboundAccountPosition``): (asset, free, locked) per asset."""

    account: str
    time: int
    balances: tuple[tuple[str, Decimal, Decimal], ...]


@dataclass(frozen=True)
class ListEvent:
    """An order list changed (``listStatus``)."""

    order_list: OrderList
    orders: tuple[Order, ...]
    time: int


Event = OrderEvent | BalanceEvent | ListEvent


@dataclass
class Outcome:
    """Result of one engine call: the affected orders, new trades and events in order."""

    orders: list[Order] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    order_list: OrderList | None = None
