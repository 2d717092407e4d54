"""The payloads that cross processes, typed.

- A decision's ``bracket`` and ``signal`` columns: the engine writes them, the bot shows them
  and the router routes the bracket (:class:`Bracket`, :class:`SignalRaw`; a decision agent
  plugin returns a :class:`SignalRaw`).
- PostgreSQL ``NOTIFY`` between the processes (:class:`NotifyChannel`): the payload names the row
  to read (:func:`notified_id`).
- The router's HTTP API, called by the bot (:class:`RouteRequest`, :class:`KillRequest`,
  :class:`ResumeRequest`).

The engine's own events (candles, regime changes) are in :mod:`engine.events`.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field


class Contract(BaseModel):
    """Base of every contract: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Side(StrEnum):
    """The side of an order (Binance's words)."""

    BUY = "BUY"
    SELL = "SELL"


class Market(StrEnum):
    """The market a decision trades on: spot or USD-M futures."""

    SPOT = "spot"
    USDM = "usdm"


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


class NotifyChannel(StrEnum):
    """The ``NOTIFY`` channels between the processes. Each payload is the id (as text) of
    the row to read, except on ``gl_candles`` (``"venue symbol tf"``, from a trigger)."""

    DECISIONS = "gl_decisions"  # a PENDING decision was written (engine → bot)
    APPROVED = "gl_approved"  # a decision was approved (bot → router)
    ALERTS = "gl_alerts"  # an alert was queued (engine, router, bot → bot)
    CANDLES = "gl_candles"  # a candle was stored (database trigger → bot)


def notified_id(payload: str) -> int | None:
    """The row id a ``NOTIFY`` payload names (``None`` when it names none)."""
    text = payload.strip()
    return int(text) if text.isdigit() else None


class RouteRequest(TypedDict):
    """``POST /v1/brackets``: route an APPROVED decision."""

    decision_id: int


class KillRequest(TypedDict):
    """``POST /v1/kill``: halt trading (and close positions when ``flatten``)."""

    flatten: NotRequired[bool]
    by: str


class ResumeRequest(TypedDict):
    """``POST /v1/resume``: trade again."""

    by: str
