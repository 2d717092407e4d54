"""Event contracts shared by every Greenlight process.

Each event is a frozen, typed pydantic model carrying a ``schema`` tag such as
``"candles.v1"``. Processes exchange them as JSON (rows, NOTIFY payloads, HTTP bodies);
``parse_event`` turns JSON back into the right model and rejects anything else.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from greenlight.core.lifecycle import TERMINAL, State


class Contract(BaseModel):
    """Base for all events: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Market(StrEnum):
    SPOT = "spot"
    USDM = "usdm"


DecisionState = State  # the lifecycle's states (greenlight/core/lifecycle.py owns the table)
TERMINAL_STATES = TERMINAL


class Candle(Contract):
    """A closed candle (``candles.v1``). Times are epoch milliseconds, UTC."""

    schema_: Literal["candles.v1"] = Field("candles.v1", alias="schema")
    venue: str
    symbol: str
    tf: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Features(Contract):
    """Indicator values at one closed candle (``features.v1``); NaN during warm-up."""

    schema_: Literal["features.v1"] = Field("features.v1", alias="schema")
    venue: str
    symbol: str
    tf: str
    open_time: int
    values: dict[str, float]


class SignalRaw(Contract):
    """A setup found by an analysis agent (``signals_raw.v1``), before sizing."""

    schema_: Literal["signals_raw.v1"] = Field("signals_raw.v1", alias="schema")
    agent: str
    venue: str
    symbol: str
    tf: str
    open_time: int
    side_hint: Literal["long", "short"]
    entry_hint: float
    sl_hint: float
    tpR: tuple[float, ...]
    features: dict[str, bool]
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    ttl_bars: int
    why: str = ""
    # Open time of the candle whose structure break opened the setup (one decision per setup).
    setup: int | None = None


class SwingEvent(Contract):
    """A swing pivot, emitted when it became known (``swings.v1``): ``pivot_time`` is the
    pivot candle's open time, ``known_time`` the open time of the candle that confirmed it."""

    schema_: Literal["swings.v1"] = Field("swings.v1", alias="schema")
    venue: str
    symbol: str
    tf: str
    pivot_time: int
    known_time: int
    kind: Literal["high", "low"]
    label: Literal["", "HH", "LH", "HL", "LL"]
    price: float


class StructureEvent(Contract):
    """A break of structure or change of character on a close (``smc_events.v1``)."""

    schema_: Literal["smc_events.v1"] = Field("smc_events.v1", alias="schema")
    venue: str
    symbol: str
    tf: str
    open_time: int
    kind: Literal["BOS_UP", "BOS_DN", "CHOCH_UP", "CHOCH_DN"]
    level: float
    ref_swing_time: int


class ZoneEvent(Contract):
    """A change of an FVG or order block (``zones.v1``): new, touched, mitigated, expired."""

    schema_: Literal["zones.v1"] = Field("zones.v1", alias="schema")
    venue: str
    symbol: str
    tf: str
    zone_id: int
    kind: Literal["FVG", "OB"]
    direction: Literal["bullish", "bearish"]
    status: Literal["new", "touched", "mitigated", "expired"]
    start_time: int
    at_time: int
    top: float
    bottom: float


class RegimeEvent(Contract):
    """The regime of a stream changed at ``open_time`` (``regime.v1``)."""

    schema_: Literal["regime.v1"] = Field("regime.v1", alias="schema")
    venue: str
    symbol: str
    tf: str
    open_time: int
    regime: Literal["TREND", "RANGE", "SHOCK"]
    adx: float
    atr_pct: float
    bbw_pct: float


class BracketLeg(Contract):
    """One take-profit rung of a bracket; ``r_net`` is its reward after the round trip's
    fees and slippage, in units of the risk at the stop (costs included)."""

    price: Decimal
    quantity: Decimal
    r_multiple: Decimal
    r_net: Decimal | None = None


class Bracket(Contract):
    """A fully sized and rounded bracket: entry, protective stop, take-profit ladder."""

    market: Market
    symbol: str
    side: Side
    entry_type: Literal["MARKET", "LIMIT"]
    entry_price: Decimal
    quantity: Decimal
    stop_price: Decimal
    take_profits: tuple[BracketLeg, ...]
    risk_quote: Decimal  # loss if the stop fills, entry and exit fees and slippage included
    risk_fraction: Decimal
    equity_quote: Decimal
    leverage: int = 1
    cost_quote: Decimal = Decimal(0)  # the fees and slippage part of risk_quote


class Decision(Contract):
    """A qualified, sized setup waiting for a human (``decision.v1``)."""

    schema_: Literal["decision.v1"] = Field("decision.v1", alias="schema")
    id: int
    venue: str
    symbol: str
    tf: str
    open_time: int
    state: DecisionState
    bracket: Bracket
    signal: SignalRaw
    created_at: datetime
    expires_at: datetime


class OrderUpdate(Contract):
    """A change of an order on the venue as seen by the router (``order_update.v1``)."""

    schema_: Literal["order_update.v1"] = Field("order_update.v1", alias="schema")
    decision_id: int
    client_order_id: str
    venue_order_id: str | None
    leg: str
    symbol: str
    side: Side
    order_type: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal
    price: Decimal | None
    avg_fill_price: Decimal | None
    event_time: int


class Alert(Contract):
    """A short message for every chat channel (``alert.v1``): fills, kills, guard changes."""

    schema_: Literal["alert.v1"] = Field("alert.v1", alias="schema")
    kind: Literal["fill", "kill", "resume", "guard", "error", "closed", "expired", "info"]
    text: str
    decision_id: int | None = None


Event = Annotated[
    Candle
    | Features
    | SwingEvent
    | StructureEvent
    | ZoneEvent
    | RegimeEvent
    | SignalRaw
    | Decision
    | OrderUpdate
    | Alert,
    Field(discriminator="schema_"),
]
_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def parse_event(raw: str | bytes | dict[str, Any]) -> Contract:
    """Decode a JSON document or dict into its event model; raise ``ValueError`` if invalid."""
    if isinstance(raw, dict):
        result: Contract = _EVENT_ADAPTER.validate_python(raw)
    else:
        result = _EVENT_ADAPTER.validate_json(raw)
    return result


def dump_event(event: Contract) -> str:
    """Encode an event as JSON with its ``schema`` tag."""
    return event.model_dump_json(by_alias=True)
