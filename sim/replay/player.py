"""Replay clock over real candle files: the past is closed, the present advances candle by
candle with in-progress updates that follow an intra-candle price path.

Path rule: a bullish candle (close ≥ open) goes O→L→H→C, a bearish one O→H→L→C, each leg
taking a third of the candle. Update ``j`` of ``k`` in-progress updates is taken at
``t = j/(k+1)``; its high/low are the extremes visited so far, its volume ``volume*t``; the
closing update (``x=true``) carries the real values. The replay's position is the market
clock (:attr:`Replay.now_ms`): candle, event and server times are all read off it. Pacing (how
many candles per wall-clock second) uses the monotonic wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from greenlight.core.candlefile import CandleArrays

VERTEX_T = (0.0, 1 / 3, 2 / 3, 1.0)
MAX_BATCH = 2000


@dataclass(frozen=True, slots=True)
class KlineUpdate:
    """One kline emission; ``path`` lists the prices traversed since the previous one."""

    symbol: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool
    path: tuple[float, ...]
    t: float = 1.0  # position inside the candle (1.0 = closing update)

    @property
    def hist_time(self) -> int:
        """Historical time of this update (ms): open time + ``t`` of the candle span."""
        return self.open_time + int((self.close_time + 1 - self.open_time) * self.t)


def candle_vertices(o: float, h: float, lo: float, c: float) -> tuple[float, ...]:
    """The four path vertices of a candle (bullish O→L→H→C, bearish O→H→L→C)."""
    return (o, lo, h, c) if c >= o else (o, h, lo, c)


def price_at(vertices: tuple[float, ...], t: float) -> float:
    """Linear interpolation of the path at ``t`` in [0, 1]."""
    if t >= 1.0:
        return vertices[3]
    seg = min(int(t * 3), 2)
    frac = (t - VERTEX_T[seg]) * 3
    return vertices[seg] + (vertices[seg + 1] - vertices[seg]) * frac


def partial_update(
    symbol: str,
    ohlcv: tuple[float, float, float, float, float],
    times: tuple[int, int],
    t_prev: float,
    t: float,
    decimals: int,
) -> KlineUpdate:
    """The update at ``t`` (1.0 = closing update with the real values)."""
    o, h, lo, c, v = ohlcv
    vx = candle_vertices(o, h, lo, c)
    now = round(price_at(vx, t), decimals)
    start = 0 if t_prev == 0 else 1
    path = [vx[i] for i in range(start, 3) if (t_prev < VERTEX_T[i] or i == 0) and VERTEX_T[i] < t]
    path.append(now)
    if t >= 1.0:
        return KlineUpdate(symbol, times[0], times[1], o, h, lo, c, v, True, tuple(path))
    seen = [vx[i] for i in range(3) if VERTEX_T[i] <= t] + [now]
    return KlineUpdate(
        symbol,
        times[0],
        times[1],
        o,
        max(seen),
        min(seen),
        now,
        round(v * t, 8),
        False,
        tuple(path),
        t,
    )


class Replay:
    """Advances all symbols in lock-step on the first symbol's timeline; a symbol whose
    file shares no open time with the first one keeps its own historical clock (its own
    ``start_index + history_candles`` row advances with every step)."""

    def __init__(
        self,
        candles: Mapping[str, CandleArrays],
        tf_ms: int,
        *,
        history_candles: int,
        start_index: int = 0,
        candles_per_second: float = 2.0,
        updates_per_candle: int = 2,
        max_candles: int | None = None,
        start_paused: bool = False,
        price_decimals: Mapping[str, int] | None = None,
        shift_ms: int = 0,
    ) -> None:
        if not candles:
            raise ValueError("replay needs at least one candle file")
        if candles_per_second <= 0:
            raise ValueError("candles_per_second must be positive")
        self.candles = dict(candles)
        self.shift_ms = shift_ms  # how far the candles were moved from their file times
        self.symbols = list(self.candles)
        self.tf_ms = tf_ms
        self.k = updates_per_candle
        self.decimals = {s: (price_decimals or {}).get(s, 8) for s in self.symbols}
        master = self.candles[self.symbols[0]].open_time
        self._first = start_index + history_candles
        if start_index < 0 or self._first >= len(master):
            raise ValueError(
                f"start_index {start_index} + history_candles {history_candles} leaves no "
                f"candle to replay ({len(master)} in the file)"
            )
        self._master = master
        self._align(start_index)
        remaining = len(master) - self._first
        self.total = remaining if max_candles is None else min(max_candles, remaining)
        self.replayed = 0
        self._sub = 0
        self._steps = 0
        self.last_price: dict[str, float] = {}
        self.in_progress: dict[str, KlineUpdate] = {}
        for s, arr in self.candles.items():
            if self.closed_upto[s] > 0:
                self.last_price[s] = float(arr.close[self.closed_upto[s] - 1])
        self._listeners: list[Callable[[list[KlineUpdate]], None]] = []
        self._rate = candles_per_second
        self._paused = start_paused
        self._wake = asyncio.Event()
        self._base_t = time.monotonic()
        self._base_steps = 0

    def _align(self, start_index: int) -> None:
        """Map every master-timeline row to each symbol's row (-1 where it has none)."""
        master = self._master
        self._index: dict[str, npt.NDArray[np.int64]] = {}
        self._lower: dict[str, int] = {}
        self.closed_upto: dict[str, int] = {}
        for s, arr in self.candles.items():
            idx = np.searchsorted(arr.open_time, master).astype(np.int64)
            ok = (idx < len(arr)) & (arr.open_time[np.minimum(idx, len(arr) - 1)] == master)
            if not ok.any():
                self._own_clock(s, arr, start_index)
                continue
            self._index[s] = np.where(ok, idx, -1)
            self._lower[s] = int(np.searchsorted(arr.open_time, master[start_index]))
            self.closed_upto[s] = int(np.searchsorted(arr.open_time, master[self._first]))

    def _own_clock(self, s: str, arr: CandleArrays, start_index: int) -> None:
        """Rows of a disjoint symbol follow the step count from its own first row; its
        history is capped at half of its file so that it has candles left to replay."""
        n = len(self._master)
        lower = min(start_index, max(len(arr) - 1, 0))
        first = lower + min(self._first - start_index, (len(arr) - lower) // 2)
        rows = np.arange(n, dtype=np.int64) - self._first + first
        self._index[s] = np.where((rows >= first) & (rows < len(arr)), rows, -1)
        self._lower[s] = lower
        self.closed_upto[s] = first

    # ---- state -----------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """All ``total`` candles were replayed."""
        return self.replayed >= self.total

    @property
    def paused(self) -> bool:
        """Whether the clock is paused."""
        return self._paused

    @property
    def candles_per_second(self) -> float:
        """Current speed."""
        return self._rate

    @property
    def current_open_time(self) -> int:
        """Open time (ms) of the candle in progress (or the last one when finished)."""
        m = self._first + min(self.replayed, max(self.total - 1, 0))
        return int(self._master[m])

    @property
    def now_ms(self) -> int:
        """Market time (ms) of the newest emission: the open time of the candle in progress
        plus the elapsed part of it; the close of the last candle once finished."""
        if self.finished:
            last = self._first + max(self.total - 1, 0)
            return int(self._master[last]) + self.tf_ms
        m = self._first + self.replayed
        return int(self._master[m]) + self.tf_ms * self._sub // (self.k + 1)

    def visible_range(self, symbol: str) -> tuple[int, int]:
        """Row range ``[lo, hi)`` of ``symbol``'s closed candles visible to clients."""
        return self._lower[symbol], self.closed_upto[symbol]

    def add_listener(self, fn: Callable[[list[KlineUpdate]], None]) -> None:
        """Call ``fn`` with every step's updates (one per symbol that has the candle)."""
        self._listeners.append(fn)

    # ---- control ---------------------------------------------------------------------
    def pause(self) -> None:
        """Stop advancing."""
        self._paused = True

    def resume(self) -> None:
        """Continue advancing from where it paused."""
        self._paused = False
        self._rebase()
        self._wake.set()

    def set_speed(self, candles_per_second: float) -> None:
        """Change the speed; takes effect immediately."""
        if not candles_per_second > 0:
            raise ValueError("candles_per_second must be positive")
        self._rate = candles_per_second
        self._rebase()
        self._wake.set()

    def _rebase(self) -> None:
        self._base_t = time.monotonic()
        self._base_steps = self._steps

    # ---- stepping --------------------------------------------------------------------
    def advance(self, ms: int) -> int:
        """Step (paused or not) until the market clock has moved ``ms`` on or the replay
        is finished; returns the number of updates emitted."""
        target = self.now_ms + ms
        done = 0
        while not self.finished and self.now_ms < target:
            self.step()
            done += 1
        return done

    def step(self) -> list[KlineUpdate]:
        """Emit the next update for every symbol (no-op when finished)."""
        if self.finished:
            return []
        m = self._first + self.replayed
        closing = self._sub >= self.k
        t = 1.0 if closing else (self._sub + 1) / (self.k + 1)
        t_prev = self._sub / (self.k + 1)
        updates: list[KlineUpdate] = []
        for s in self.symbols:
            i = int(self._index[s][m])
            if i < 0:
                continue
            a = self.candles[s]
            ohlcv = (
                float(a.open[i]),
                float(a.high[i]),
                float(a.low[i]),
                float(a.close[i]),
                float(a.volume[i]) if a.has_volume else 0.0,
            )
            times = (int(a.open_time[i]), int(a.open_time[i]) + self.tf_ms - 1)
            u = partial_update(s, ohlcv, times, t_prev, t, self.decimals[s])
            updates.append(u)
            self.last_price[s] = u.path[-1]
            if closing:
                self.closed_upto[s] = i + 1
                self.in_progress.pop(s, None)
            else:
                self.in_progress[s] = u
        self._steps += 1
        if closing:
            self._sub = 0
            self.replayed += 1
        else:
            self._sub += 1
        for fn in self._listeners:
            fn(updates)
        return updates

    async def run(self) -> None:
        """Advance in real time until finished (pause/resume/speed honoured)."""
        self._rebase()
        while not self.finished:
            if self._paused:
                self._wake.clear()
                await self._wake.wait()
                continue
            sps = self._rate * (self.k + 1)
            elapsed = time.monotonic() - self._base_t
            due = self._base_steps + int(elapsed * sps) - self._steps
            if due <= 0:
                wait = (self._steps + 1 - self._base_steps) / sps - elapsed
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(wait, 0.0005))
                continue
            for _ in range(min(due, MAX_BATCH)):
                if self._paused or self.finished:
                    break
                self.step()
            await asyncio.sleep(0)
