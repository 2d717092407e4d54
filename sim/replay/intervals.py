"""Several kline intervals per market: the replay runs at the finest interval the data allows
(the *base*), and every coarser requested interval is aggregated causally from it.

Aggregation of a coarse candle from base updates: open = first base open of the bucket,
high/low = extremes of the closed base candles plus the current update, close = the current
update's close, volume = closed base volumes plus the current update's. The coarse closing
update (``x=true``) is produced by the base closing update that ends its bucket, after that
base update — so a client sees the fine candle close before the coarse one containing it.
REST rows of closed coarse candles come from :func:`sim.replay.resample.resample` of the same base
rows (complete buckets only), the in-progress one from the aggregator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from greenlight.core.candlefile import CandleArrays
from greenlight.core.settings import TIMEFRAMES_MS
from sim.errors import SimError
from sim.market_clock import MarketClock
from sim.replay.player import KlineUpdate
from sim.replay.resample import resample

TF_MS = TIMEFRAMES_MS


def plan_intervals(file_ms: Mapping[str, int], tf: str, extra: Sequence[str]) -> tuple[str, ...]:
    """Intervals one market serves, finest (the replay's base) first.

    The base is the finest requested interval (``tf`` plus ``extra``) that every file can be
    resampled to (file interval divides it); served are the base and the requested
    intervals that are multiples of it. When no requested interval fits, ``tf`` alone
    (the resampler then explains why the files cannot be replayed at it).
    """
    requested = sorted({tf, *extra}, key=TF_MS.__getitem__)
    fits = [i for i in requested if all(TF_MS[i] % ms == 0 for ms in file_ms.values())]
    if not fits:
        return (tf,)
    base = TF_MS[fits[0]]
    return tuple(i for i in requested if TF_MS[i] % base == 0)


def scaled_pacing(
    tf: str, base: str, candles_per_second: float, history: int, max_candles: int | None
) -> tuple[float, int, int | None]:
    """Replay knobs given in ``tf`` candles, converted to ``base`` candles (same pace in
    historical time: a 5m replay for a 15m setting runs 3× the candles per second)."""
    ratio = TF_MS[tf] / TF_MS[base]
    more = None if max_candles is None else max(1, int(max_candles * ratio))
    return candles_per_second * ratio, int(history * ratio), more


@dataclass
class _Bucket:
    open_time: int
    open: float
    high: float
    low: float
    volume: float  # of the closed base candles
    last: KlineUpdate | None = None


class Aggregator:
    """Coarse candles of one interval built from base updates (see module docstring)."""

    def __init__(self, coarse_ms: int, base_ms: int, candles: Mapping[str, CandleArrays]):
        self.ms = coarse_ms
        self.base_ms = base_ms
        self.base = dict(candles)
        self.rows = {s: resample(a, coarse_ms) for s, a in self.base.items()}
        self.in_progress: dict[str, KlineUpdate] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._source: MarketClock | None = None

    def attach(self, replay: MarketClock) -> None:
        """Use ``replay``'s visible base rows for :meth:`visible_range`."""
        self._source = replay

    def _seed(self, symbol: str, start: int, upto: int) -> _Bucket:
        """A bucket from the closed base rows in ``[start, upto)`` (history, already past)."""
        a = self.base[symbol]
        lo, hi = np.searchsorted(a.open_time, [start, upto])
        if hi <= lo:
            return _Bucket(start, float("nan"), float("-inf"), float("inf"), 0.0)
        vol = float(a.volume[lo:hi].sum()) if a.has_volume else 0.0
        return _Bucket(
            start,
            float(a.open[lo]),
            float(a.high[lo:hi].max()),
            float(a.low[lo:hi].min()),
            vol,
        )

    def feed(self, u: KlineUpdate) -> list[KlineUpdate]:
        """The coarse update(s) following base update ``u`` (a bucket left unclosed by a gap
        is closed first, from its last state)."""
        out: list[KlineUpdate] = []
        start = u.open_time - u.open_time % self.ms
        b = self._buckets.get(u.symbol)
        if b is not None and b.open_time != start:
            if b.last is not None and not b.last.closed:
                out.append(replace(b.last, closed=True, t=1.0, path=(b.last.close,)))
            b = None
        if b is None:
            b = self._seed(u.symbol, start, u.open_time)
            self._buckets[u.symbol] = b
        first = b.open if b.open == b.open else u.open  # NaN: u opens the bucket
        b.open = first
        closed = u.closed and u.close_time + 1 >= start + self.ms
        t = 1.0 if closed else (u.hist_time - start) / self.ms
        cu = KlineUpdate(
            u.symbol,
            start,
            start + self.ms - 1,
            first,
            max(b.high, u.high),
            min(b.low, u.low),
            u.close,
            round(b.volume + u.volume, 8),
            closed,
            u.path,
            t,
        )
        if u.closed:
            b.high, b.low, b.volume = cu.high, cu.low, b.volume + u.volume
        b.last = cu
        if closed:
            self.in_progress.pop(u.symbol, None)
        else:
            self.in_progress[u.symbol] = cu
        out.append(cu)
        return out

    def visible_range(self, symbol: str) -> tuple[int, int]:
        """Rows ``[lo, hi)`` of the coarse candles closed within the visible base rows."""
        assert self._source is not None, "attach() the replay first"
        a, rows = self.base[symbol], self.rows[symbol].open_time
        lo, hi = self._source.visible_range(symbol)
        if hi <= lo:
            return 0, 0
        first = int(np.searchsorted(rows, a.open_time[lo]))
        end = int(a.open_time[hi - 1]) + self.base_ms
        return first, int(np.searchsorted(rows + self.ms, end, side="right"))


class IntervalSet:
    """The intervals one market serves: the base (the replay itself) and aggregators."""

    def __init__(
        self, served: Sequence[str], replay: MarketClock, candles: Mapping[str, CandleArrays]
    ):
        self.base = served[0]
        self.served = tuple(served)
        self.replay = replay
        self.candles = dict(candles)
        base_ms = TF_MS[self.base]
        self.coarse: dict[str, Aggregator] = {}
        for i in served[1:]:
            agg = Aggregator(TF_MS[i], base_ms, candles)
            agg.attach(replay)
            self.coarse[i] = agg

    def feed(self, updates: Sequence[KlineUpdate]) -> list[tuple[str, list[KlineUpdate]]]:
        """Coarse updates per interval for one replay step (base updates not included)."""
        return [(i, [cu for u in updates for cu in agg.feed(u)]) for i, agg in self.coarse.items()]

    def source(
        self, symbol: str, interval: str
    ) -> tuple[CandleArrays, MarketClock | Aggregator, int]:
        """Rows, visibility and interval (ms) of ``interval``; ``-1120`` when not served."""
        if interval == self.base:
            return self.candles[symbol], self.replay, TF_MS[interval]
        agg = self.coarse.get(interval)
        if agg is None:
            raise SimError(
                -1120,
                f"Invalid interval. The simulator serves {', '.join(self.served)} for "
                f"{symbol} (its data is {self.base}; finer intervals are never invented).",
            )
        return agg.rows[symbol], agg, agg.ms
