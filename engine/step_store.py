"""Candles advanced in memory and waiting for their transaction, and the statements that write
any number of them at once.

A stream's processor advances its step functions by one closed candle without touching the
database (:meth:`engine.pipeline.StreamProcessor.advance`,
:meth:`engine.sub_pipeline.SubStreamProcessor.advance`); what the candle produced is kept in
a :class:`CandleStep` (parent timeframe) or a :class:`SubStep` (sub-timeframe), and
:func:`write_steps` writes the rows of every step handed to it in the caller's transaction
with one pipelined statement per kind of row, however many streams closed together: the
candles, their indicators and the streams' saved states; the SMC rows; regime changes; the
guards' verdicts (:func:`write_verdicts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import numpy as np
import numpy.typing as npt

from engine import store
from engine.events import Candle, RegimeEvent
from engine.guards.store import save_verdict_rows
from engine.guards.verdict import Verdict
from engine.regime.events import save_regimes
from engine.smc.store import write_smc_streams
from greenlight.core.contracts import SignalRaw

F64 = npt.NDArray[np.float64]


@dataclass
class CandleStep:
    """One parent candle after its in-memory step: what its transaction writes and what the
    live part of it (guards, signals, decision) needs. ``verdicts`` are set in the
    transaction, once the guards have read the admins' bypasses (live candles only)."""

    candle: Candle
    received_at: float
    live: bool
    close_ms: int  # the candle's close on the venue's clock (open time + timeframe)
    values: dict[str, float]
    feature_state: bytes
    analysis_state: bytes | None  # a new base, or None: the saved one stays
    analysis_patch: bytes | None  # from the base to the new state (see engine.state_patch)
    agent_state: bytes
    smc_rows: F64
    regime_event: RegimeEvent | None
    regime: str
    regime_code: int
    atr_pct: float
    bbw_pct: float
    micro: tuple[bool, bool]
    found: dict[str, list[SignalRaw]]
    failed: list[tuple[str, str]]
    verdicts: dict[str, Verdict] = field(default_factory=dict)


@dataclass(frozen=True)
class SubStep:
    """One sub-timeframe candle after its in-memory step; ``before`` is the stream's state
    before it (restored when the transaction fails)."""

    candle: Candle
    received_at: float
    state: bytes
    smc_rows: F64
    before: bytes


async def write_steps(
    conn: asyncpg.Connection, parents: Sequence[CandleStep], subs: Sequence[SubStep] = ()
) -> None:
    """Write the rows of ``parents`` and ``subs`` in the caller's transaction (see the module
    docstring; the verdicts, known later, with :func:`write_verdicts`); at most one round
    trip per kind of row present."""
    if parents:
        await store.save_candle_steps(
            conn,
            [
                store.candle_step_args(
                    s.candle,
                    s.received_at,
                    s.values,
                    s.feature_state,
                    s.analysis_state,
                    s.analysis_patch,
                    s.agent_state,
                )
                for s in parents
            ],
        )
    if subs:
        await store.save_sub_steps(
            conn, [store.sub_step_args(s.candle, s.received_at, s.state) for s in subs]
        )
    rows: list[CandleStep | SubStep] = [*parents, *subs]
    smc = [
        (s.candle.venue, s.candle.symbol, s.candle.tf, s.smc_rows)
        for s in rows
        if s.smc_rows.shape[0]
    ]
    if smc:
        await write_smc_streams(conn, smc)
    regimes = [s.regime_event for s in parents if s.regime_event is not None]
    if regimes:
        await save_regimes(conn, regimes)


async def write_verdicts(conn: asyncpg.Connection, parents: Sequence[CandleStep]) -> None:
    """Write the guards' verdicts of every judged step (live candles) in one statement."""
    judged = [
        (s.candle.venue, s.candle.symbol, list(s.verdicts.values()), s.close_ms)
        for s in parents
        if s.verdicts
    ]
    if judged:
        await save_verdict_rows(conn, judged)
