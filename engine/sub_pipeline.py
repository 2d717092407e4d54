"""One symbol's sub-timeframe stream in the engine: persist → causal SMC → pending micro breaks.

Each sub candle is handled in one transaction (the candle, the stream's state with its pending
breaks, and its SMC rows under ``tf`` = the sub interval; in the engine, the one transaction
of every stream's candle handed in together, see :mod:`engine.candle_batch`), so a restart
resumes exactly; the parent :class:`engine.pipeline.StreamProcessor` takes the breaks inside
each of its candles before analysing it (:meth:`SubStreamProcessor.take_breaks`).
"""

from __future__ import annotations

import logging

import asyncpg

from engine import store
from engine.analysis_stream import AnalysisStateError
from engine.events import Candle
from engine.micro_stream import MicroStream, micro_smc_params
from engine.smc.engine import BadCandleError
from engine.step_store import SubStep, write_steps
from greenlight.core.settings import TIMEFRAMES_MS, Settings

log = logging.getLogger(__name__)


class SubStreamProcessor:
    """Owns the micro-structure state of one (venue, symbol, sub tf) stream."""

    def __init__(
        self, settings: Settings, venue: str, symbol: str, tf: str, parent_tf: str
    ) -> None:
        fine, coarse = TIMEFRAMES_MS[tf], TIMEFRAMES_MS[parent_tf]
        if fine >= coarse or coarse % fine:
            raise ValueError(f"sub timeframe {tf} must be finer than {parent_tf} and divide it")
        self.venue = venue
        self.symbol = symbol
        self.tf = tf
        self.parent_tf_ms = coarse
        self._params = micro_smc_params(settings)
        self.micro = MicroStream(self._params, coarse)
        self.last_open_time: int | None = None

    @property
    def last_close_time(self) -> int | None:
        """Close time of the newest sub candle processed (``None`` before the first)."""
        return self.micro.last_close_time

    async def restore(self, conn: asyncpg.Connection) -> int | None:
        """Resume from persisted state; return the open time it resumes after, or ``None``
        when there is no usable state (the caller warms up from history)."""
        saved = await store.load_feature_state(conn, self.venue, self.symbol, self.tf)
        if saved is None:
            return None
        try:
            self.micro = MicroStream.from_bytes(self._params, self.parent_tf_ms, saved.state)
        except AnalysisStateError as exc:
            log.warning("%s %s: %s; warming up again", self.symbol, self.tf, exc)
            self.micro = MicroStream(self._params, self.parent_tf_ms)
            return None
        self.last_open_time = saved.open_time
        return saved.open_time

    def advance(self, candle: Candle, received_at: float) -> SubStep | None:
        """Advance the micro structure by one closed sub candle, in memory only; ``None`` when
        it is skipped (already processed, or unusable: logged, nothing changed). Write it
        with :func:`engine.step_store.write_steps`, then call :meth:`committed` — or
        :meth:`rollback` when its transaction failed."""
        if self.last_open_time is not None and candle.open_time <= self.last_open_time:
            return None
        before = self.micro.to_bytes()
        try:
            rows = self.micro.update(candle)
        except BadCandleError as exc:
            log.error("%s %s: ignored bad candle: %s", self.symbol, self.tf, exc)
            return None
        return SubStep(candle, received_at, self.micro.to_bytes(), rows, before)

    def committed(self, step: SubStep) -> None:
        """``step``'s transaction committed."""
        self.last_open_time = step.candle.open_time

    def rollback(self, step: SubStep) -> None:
        """``step``'s transaction failed: back to the state before it."""
        self.micro = MicroStream.from_bytes(self._params, self.parent_tf_ms, step.before)

    async def process(self, pool: asyncpg.Pool, candle: Candle, received_at: float) -> bool:
        """Handle one closed sub candle in one transaction; ``False`` if it was skipped
        (already processed, or unusable: logged, nothing changed)."""
        step = self.advance(candle, received_at)
        if step is None:
            return False
        try:
            async with pool.acquire() as conn, conn.transaction():
                await write_steps(conn, (), [step])
        except BaseException:
            self.rollback(step)
            raise
        self.committed(step)
        return True

    def covers(self, parent: Candle) -> bool:
        """Whether the sub candle closing with ``parent`` has been processed."""
        last = self.micro.last_close_time
        return last is not None and last >= parent.close_time

    def take_breaks(self, parent_open_time: int) -> tuple[bool, bool]:
        """Up / down micro breaks inside the parent candle at ``parent_open_time`` (then
        forgotten, with everything older)."""
        return self.micro.take(parent_open_time)

    def discard_through(self, parent_open_time: int) -> None:
        """Forget breaks of parent candles already processed (after a restart)."""
        self.micro.discard_through(parent_open_time)
