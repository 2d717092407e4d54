"""The engine's own typed events: a closed candle as ingested, and a change of a stream's
regime (persisted in ``regimes``). Payloads that cross processes are in
:mod:`greenlight.core.contracts`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from greenlight.core.contracts import Contract


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
