"""One transaction for the candles of every stream that closed on the same instant (group
commit).

Each stream's feed consumes its own queue (:class:`engine.symbol_feed.SymbolFeed`); when an
instant closes N streams, their N feeds hand their candles to the engine's one
:class:`CommitGroup`. A candle handed in while no transaction is running starts one at once,
with those that reached the engine in the same few turns of the loop; the candles handed in
while it runs go together in the next. There is no timer: a lone candle is never delayed,
and a burst of N closes costs one or a few transactions instead of N.

:func:`process_candles` advances every stream in memory first (no connection held), then in
one transaction the rows of all streams are written with one pipelined statement per kind of
row (:mod:`engine.step_store`), the guards read the admins' bypasses once, and each stream's
signals and decision follow in turn, as they would alone (a decision sizes on what the
streams before it decided, under the market's sizing lock). Two transactions may overlap:
the second writes its rows while the first commits, and judges its guards, signals and
decisions only once the first has ended (so decisions still come one transaction after the
other, each seeing those before). The guarantees of one candle's
transaction hold for the group: a candle, its stream's saved states and any decision commit
together (here with the others'), and decisions are NOTIFYed at that commit. When the
transaction fails, every candle in it fails: each feed restores its processors from what
was committed and hands its candle in again, so a candle is applied exactly once. A group
holds at most one candle per stream (a feed waits for its candle before handing in the next).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from engine.events import Candle
from engine.metrics import observe_batch
from engine.pipeline import ALREADY_PROCESSED, Outcome, StreamProcessor, commit_steps
from engine.step_store import CandleStep, SubStep
from engine.sub_pipeline import SubStreamProcessor

log = logging.getLogger(__name__)
_MAX_GATHER_TURNS = 16  # loop turns a group may wait for more candles (see CommitGroup._gather)
_IN_FLIGHT = 2  # transactions of the group commit that may overlap (see CommitGroup.run)


@dataclass(frozen=True)
class Work:
    """One closed candle for its stream's processor: a parent stream's (the outcome is an
    :class:`Outcome`) or a sub-timeframe stream's (``True`` when it was processed)."""

    proc: StreamProcessor | SubStreamProcessor
    candle: Candle
    received_at: float
    live: bool = True


@dataclass
class GroupStats:
    """What the groups cost so far (for benchmarks and tests)."""

    transactions: int = 0
    candles: int = 0
    largest: int = 0
    advance_s: float = 0.0  # in-memory steps of every stream
    commit_s: float = 0.0  # from acquiring a connection to the commit


async def process_candles(
    pool: asyncpg.Pool,
    work: Sequence[Work],
    stats: GroupStats | None = None,
    turn: asyncio.Future[Any] | None = None,
) -> list[Outcome | bool]:
    """Process ``work`` (at most one candle per processor) in one transaction; the results
    in the order given (see the module docstring). With ``turn`` (the transaction before,
    still running), the rows are written at once but the guards, signals and decisions wait
    for it to end (:func:`engine.pipeline.commit_steps`)."""
    if len({id(w.proc) for w in work}) != len(work):
        raise ValueError("a group holds at most one candle per stream")
    started = time.perf_counter()
    results: list[Outcome | bool] = []
    parents: list[tuple[int, StreamProcessor, CandleStep]] = []
    subs: list[tuple[SubStreamProcessor, SubStep]] = []
    for i, w in enumerate(work):
        if isinstance(w.proc, SubStreamProcessor):
            sub_step = w.proc.advance(w.candle, w.received_at)
            results.append(sub_step is not None)
            if sub_step is not None:
                subs.append((w.proc, sub_step))
            continue
        step = w.proc.advance(w.candle, w.received_at, w.live)
        results.append(ALREADY_PROCESSED)
        if step is not None:
            parents.append((i, w.proc, step))
    advanced = time.perf_counter()
    if parents or subs:
        try:
            async with pool.acquire() as conn, conn.transaction():
                outcomes = await commit_steps(
                    conn, [(p, s) for _, p, s in parents], [s for _, s in subs], turn
                )
        except BaseException:
            for sub, sub_step in subs:
                sub.rollback(sub_step)
            raise
        for sub, sub_step in subs:
            sub.committed(sub_step)
        for (i, _, _), outcome in zip(parents, outcomes, strict=True):
            results[i] = outcome
    done = time.perf_counter()
    observe_batch(len(work), advanced - started, done - advanced)
    if stats is not None:
        stats.transactions += 1
        stats.candles += len(work)
        stats.largest = max(stats.largest, len(work))
        stats.advance_s += advanced - started
        stats.commit_s += done - advanced
    return results


class CommitGroup:
    """The engine's group commit: :meth:`parent` and :meth:`sub` hand in one candle and
    return once the transaction holding it committed (or raise what failed it), while
    :meth:`run` (a task of the engine's, cancelled with it) runs the transactions."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.stats = GroupStats()
        self._waiting: list[tuple[Work, asyncio.Future[Outcome | bool]]] = []
        self._wake = asyncio.Event()
        self._running = False

    async def parent(
        self, proc: StreamProcessor, candle: Candle, received_at: float, live: bool
    ) -> Outcome:
        """Process a parent stream's candle with the others handed in meanwhile."""
        got = await self._submit(Work(proc, candle, received_at, live))
        assert isinstance(got, Outcome)
        return got

    async def sub(self, proc: SubStreamProcessor, candle: Candle, received_at: float) -> bool:
        """Process a sub-timeframe candle with the others handed in meanwhile; ``False``
        if it was skipped (see :meth:`SubStreamProcessor.process`)."""
        got = await self._submit(Work(proc, candle, received_at))
        assert isinstance(got, bool)
        return got

    async def _submit(self, work: Work) -> Outcome | bool:
        if not self._running:
            raise RuntimeError("the commit group is not running (CommitGroup.run)")
        future: asyncio.Future[Outcome | bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        self._wake.set()
        return await future

    async def run(self) -> None:
        """Run a transaction for whatever candles wait, as long as some do, until cancelled;
        a transaction's failure fails each of its candles. Up to :data:`_IN_FLIGHT` overlap:
        while one commits, the next advances its streams and writes their rows, and takes
        its turn for guards, signals and decisions once the one before has ended. Cancelled,
        it leaves nothing running (unfinished transactions are rolled back) and nobody
        waiting."""
        in_flight: deque[asyncio.Task[None]] = deque()
        self._running = True
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._waiting:
                    await self._gather()
                    while in_flight and in_flight[0].done():
                        in_flight.popleft()
                    if len(in_flight) >= _IN_FLIGHT:
                        await asyncio.wait([in_flight.popleft()])
                        continue  # candles came meanwhile: gather them too
                    group, self._waiting = self._waiting, []
                    turn = in_flight[-1] if in_flight else None
                    in_flight.append(asyncio.create_task(self._commit(group, turn)))
        finally:
            self._running = False
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            stopped = RuntimeError("the engine's commit group stopped")
            for _, future in self._waiting:
                if not future.done():
                    future.set_exception(stopped)
            self._waiting = []

    async def _gather(self) -> None:
        """Let the candles already on their way join: yield to the loop (no timer) as long as
        each turn brings more — a burst of closes read from the sockets in several turns
        then makes one group, while a lone candle goes at once."""
        for _ in range(_MAX_GATHER_TURNS):
            seen = len(self._waiting)
            await asyncio.sleep(0)
            if len(self._waiting) == seen:
                return

    async def _commit(
        self,
        group: list[tuple[Work, asyncio.Future[Outcome | bool]]],
        turn: asyncio.Future[Any] | None,
    ) -> None:
        try:
            results = await process_candles(self.pool, [w for w, _ in group], self.stats, turn)
        except BaseException as exc:
            failed = exc if isinstance(exc, Exception) else RuntimeError("commit group stopped")
            for _, future in group:
                if not future.done():
                    future.set_exception(failed)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)
