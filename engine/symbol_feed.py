"""One symbol's candles, parent and sub-timeframe, fed to their processors in a safe order.

The venue normally delivers the closing update of the last sub candle before that of the
parent candle containing it, but nothing guarantees it. A parent candle therefore waits
until the sub candle closing with it has been processed, or ``wait_s`` seconds have passed
(then it proceeds without it, and the late micro breaks are dropped with a log line).
Everything else keeps arrival order; the queue is bounded (back-pressure on the ingestor).
In the engine, the candles are handed to the engine's :class:`engine.candle_batch.CommitGroup`
so that streams closing together share one transaction.

A candle whose transaction fails because the database is unavailable (a server restart) is
retried once the database is back, after both processors are restored from what was
committed: the candle is applied exactly once, whether or not its commit went through.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from engine.candle_batch import CommitGroup
from engine.events import Candle
from engine.metrics import observe_outcome, observe_queue_lag
from engine.pipeline import Outcome, StreamProcessor
from engine.sub_pipeline import SubStreamProcessor
from greenlight.core.db_outage import Backoff, retry_while_unavailable
from greenlight.core.trace import bind_trace, trace_id_for

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_SIZE = 1024


@dataclass(frozen=True)
class _Held:
    candle: Candle
    received_at: float
    live: bool
    deadline: float  # loop time after which the parent stops waiting


class SymbolFeed:
    """Queue and consumer of one (venue, symbol): the parent stream and, optionally, its
    sub-timeframe stream."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        parent: StreamProcessor,
        sub: SubStreamProcessor | None = None,
        wait_s: float = 2.0,
        queue_size: int = QUEUE_SIZE,
        group: CommitGroup | None = None,
    ) -> None:
        if sub is not None:
            parent.attach_sub(sub)
        self.pool = pool
        self.parent = parent
        self.sub = sub
        self.wait_s = wait_s
        self.group = group
        self.queue: asyncio.Queue[tuple[Candle, float, bool]] = asyncio.Queue(queue_size)
        self._held: deque[_Held] = deque()
        self.outcomes: deque[tuple[Candle, Outcome]] = deque(maxlen=64)
        self.late_parents = 0  # parents that stopped waiting for their last sub candle
        self.handled: Counter[str] = Counter()  # candles received per interval
        self.repeats = 0  # candles received again (open time not after the last one)
        self._last: dict[str, int] = {}
        self.backoff = Backoff("engine")  # named after the candle it waits with

    async def put(self, candle: Candle, received_at: float, live: bool) -> None:
        """Enqueue a closed candle of either interval (waits while the queue is full)."""
        await self.queue.put((candle, received_at, live))

    async def run(self) -> None:
        """Consume until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            if self._held:
                timeout = max(0.0, self._held[0].deadline - loop.time())
                try:
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    await self._give_up_waiting()
                    continue
            else:
                item = await self.queue.get()
            await self.handle(*item)

    async def handle(self, candle: Candle, received_at: float, live: bool) -> None:
        """Route one candle: sub candles are processed at once (then any parent they
        complete); a parent is processed when its last sub candle is in, else held."""
        observe_queue_lag(received_at)
        self.handled[candle.tf] += 1
        if candle.open_time <= self._last.get(candle.tf, -1):
            self.repeats += 1
        self._last[candle.tf] = max(candle.open_time, self._last.get(candle.tf, -1))
        if self.sub is not None and candle.tf == self.sub.tf:
            await self._retry(candle, lambda: self._sub_step(candle, received_at))
            await self._release_covered()
            return
        if candle.tf != self.parent.tf:
            log.error("%s: candle of unexpected interval %s ignored", candle.symbol, candle.tf)
            return
        if self.sub is None or (not self._held and self.sub.covers(candle)):
            await self._process_parent(candle, received_at, live)
            return
        deadline = asyncio.get_running_loop().time() + self.wait_s
        self._held.append(_Held(candle, received_at, live, deadline))

    async def _sub_step(self, candle: Candle, received_at: float) -> bool:
        assert self.sub is not None
        if self.group is not None:
            return await self.group.sub(self.sub, candle, received_at)
        return await self.sub.process(self.pool, candle, received_at)

    async def _parent_step(self, candle: Candle, received_at: float, live: bool) -> Outcome:
        if self.group is not None:
            return await self.group.parent(self.parent, candle, received_at, live)
        return await self.parent.process(self.pool, candle, received_at, live)

    async def _retry(self, candle: Candle, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``candle``'s ``step``; while the database is unavailable, wait, restore and
        run it again (a processor advances its in-memory state inside the transaction)."""
        self.backoff.who = f"engine {candle.venue} {candle.symbol} {candle.tf}"
        return await retry_while_unavailable(step, self.backoff, self._restore)

    async def _restore(self) -> None:
        """Reload both processors from their last committed state (as after a restart)."""
        async with self.pool.acquire() as conn:
            resumed = await self.parent.restore(conn)
            if resumed is None:  # its state is written by the warm-up, before any feed runs
                raise RuntimeError(f"{self.parent.symbol} {self.parent.tf}: no saved state")
            if self.sub is not None:
                await self.sub.restore(conn)
                self.sub.discard_through(resumed)  # breaks already taken by the parent
        log.info(
            "%s %s: restored after candle %d from the database",
            self.parent.venue,
            self.parent.symbol,
            resumed,
        )

    async def _release_covered(self) -> None:
        assert self.sub is not None
        while self._held and self.sub.covers(self._held[0].candle):
            h = self._held.popleft()
            await self._process_parent(h.candle, h.received_at, h.live)

    async def _give_up_waiting(self) -> None:
        h = self._held.popleft()
        self.late_parents += 1
        last = None if self.sub is None else self.sub.last_close_time
        log.warning(
            "%s %s candle %d: no %s candle closing at %d after %.1f s (last closed %s);"
            " processed without its micro structure",
            h.candle.symbol,
            h.candle.tf,
            h.candle.open_time,
            None if self.sub is None else self.sub.tf,
            h.candle.close_time,
            self.wait_s,
            last,
        )
        await self._process_parent(h.candle, h.received_at, h.live)
        await self._release_covered()

    async def _process_parent(self, candle: Candle, received_at: float, live: bool) -> None:
        # ``live`` was judged on the venue's clock by the ingestor: how long the candle
        # queued here does not change it, so decisions do not depend on machine speed.
        bind_trace(trace_id_for(candle.venue, candle.symbol, candle.tf, candle.open_time))
        outcome = await self._retry(candle, lambda: self._parent_step(candle, received_at, live))
        observe_outcome(outcome, received_at, live, candle.venue)
        self.outcomes.append((candle, outcome))
        if outcome.decision_id is not None:
            log.info(
                "decision #%d %s %s %d",
                outcome.decision_id,
                candle.venue,
                candle.symbol,
                candle.open_time,
            )
