"""USD-M futures records of the futures engine: orders, algo orders, positions, events (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Side = Literal["BUY", "SELL"]
PositionSide = Literal["BOTH", "LONG", "SHORT"]
MarginType = Literal["ISOLATED", "CROSSED"]
WorkingType = Literal["MARK_PRICE", "CONTRACT_PRICE"]
FutOrderType = Literal["LIMIT", "MARKET"]
FutTif = Literal["GTC", "IOC", "FOK", "GTX"]
ALGO_TYPES: tuple[str, ...] = (
    "STOP_MARKET",
    "TAKE_PROFIT_MARKET",
    "STOP",
    "TAKE_PROFIT",
    "TRAILING_STOP_MARKET",
)
CONDITIONAL_TYPES = frozenset(ALGO_TYPES)
ZERO = Decimal(0)


@dataclass(frozen=True)
class FutOrderRequest:
    """A shape-checked ``POST /fapi/v1/order`` (semantic checks happen in the engine)."""

    symbol: str
    side: Side
    type: FutOrderType
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: FutTif | None = None
    reduce_only: bool = False
    position_side: PositionSide = "BOTH"
    client_order_id: str | None = None


@dataclass(frozen=True)
class AlgoRequest:
    """A shape-checked ``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``)."""

    symbol: str
    side: Side
    type: str
    trigger_price: Decimal | None
    quantity: Decimal | None = None
    price: Decimal | None = None
    time_in_force: FutTif = "GTC"
    working_type: WorkingType = "CONTRACT_PRICE"
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = "BOTH"
    client_algo_id: str | None = None
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None
    price_protect: bool = False


@dataclass
class FutOrder:
    """A futures order in the matching engine."""

    account: str
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: str
    orig_type: str
    quantity: Decimal
    price: Decimal
    time_in_force: str
    reduce_only: bool
    position_side: PositionSide
    time: int
    update_time: int
    close_position: bool = False
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        """Average fill price (0 before the first fill)."""
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO


@dataclass
class AlgoOrder:
    """A conditional order held by the algo service until it triggers."""

    account: str
    algo_id: int
    req: AlgoRequest
    client_algo_id: str
    create_time: int
    update_time: int
    status: str = "NEW"
    trigger_time: int = 0
    actual_order_id: int | None = None
    fail_reason: str = ""
    extreme: Decimal | None = None  # trailing stop: best price since activation
    activated: bool = False


@dataclass
class Position:
    """A one-way (``BOTH``) or hedge-side position; ``amount`` is signed."""

    symbol: str
    side: PositionSide
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    isolated_wallet: Decimal = ZERO
    realized: Decimal = ZERO
    update_time: int = 0


@dataclass(frozen=True)
class FutTrade:
    """One execution of a futures order."""

    trade_id: int
    order_id: int
    account: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    position_side: PositionSide
    time: int


@dataclass(frozen=True)
class OrderUpdate:
    """``ORDER_TRADE_UPDATE`` source: an order snapshot after one change."""

    account: str
    order: FutOrder
    exec_type: str
    time: int
    trade: FutTrade | None = None


@dataclass(frozen=True)
class AlgoUpdate:
    """``ALGO_UPDATE`` source: an algo order snapshot after one status change."""

    account: str
    algo: AlgoOrder
    status: str
    time: int
    actual: FutOrder | None = None


@dataclass(frozen=True)
class AccountUpdate:
    """``ACCOUNT_UPDATE`` source: wallet and positions after a balance/position change."""

    account: str
    reason: str
    time: int
    wallet: Decimal
    cross_wallet: Decimal
    balance_change: Decimal
    positions: tuple[Position, ...]
    unrealized: tuple[Decimal, ...] = ()  # per position, at the mark price


FutEvent = OrderUpdate | AlgoUpdate | AccountUpdate


@dataclass
class FutOutcome:
    """What one engine call produced, events in the order the state changed."""

    orders: list[FutOrder] = field(default_factory=list)
    trades: list[FutTrade] = field(default_factory=list)
    events: list[FutEvent] = field(default_factory=list)
