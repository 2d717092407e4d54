"""The paper venue's kline cache: the rows the market-data source reported, per symbol and
interval, served back with Binance's paging rules (``GET /api/v3/klines``).

Rows are kept exactly as the source wrote them: closed candles in open-time order (the newest
:data:`MAX_ROWS`) and the candle in progress. A request that reaches before the first cached
row is not answered from the cache (``None``: the caller asks the source), unless the cache
holds the source's very first row (the source had fewer rows than were asked for when the
cache was seeded).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from sim.paper.frames import KlineFrame, Row

Key = tuple[str, str]  # (symbol, interval)
MAX_ROWS = 50_000  # closed rows kept per series (older requests go to the source)


@dataclass
class _Series:
    times: list[int] = field(default_factory=list)  # open times of the closed rows
    rows: list[Row] = field(default_factory=list)
    live: Row | None = None
    complete: bool = False  # holds the source's first row: nothing older to ask for

    def put_closed(self, row: Row) -> None:
        t = int(row[0])
        i = bisect.bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            self.rows[i] = row
        else:
            self.times.insert(i, t)
            self.rows.insert(i, row)
            if len(self.times) > MAX_ROWS:
                drop = len(self.times) - MAX_ROWS
                del self.times[:drop], self.rows[:drop]
                self.complete = False
        if self.live is not None and int(self.live[0]) <= t:
            self.live = None

    def put_live(self, row: Row) -> None:
        if self.times and int(row[0]) <= self.times[-1]:
            return  # an update of a candle already closed here arrived late
        if self.live is None or int(row[0]) >= int(self.live[0]):
            self.live = row


class KlineCache:
    """Closed and in-progress kline rows per (symbol, interval)."""

    def __init__(self) -> None:
        self._series: dict[Key, _Series] = {}

    def seed(self, symbol: str, interval: str, rows: Iterable[Row], now: int, asked: int) -> None:
        """Store a REST answer of the source read at market time ``now``: rows that closed
        before ``now`` are closed, a later one is in progress; ``asked`` is the ``limit`` of
        the request (fewer rows: the source has nothing older)."""
        s = self._series.setdefault((symbol, interval), _Series())
        got = list(rows)
        for row in got:
            if int(row[6]) < now:
                s.put_closed(row)
            else:
                s.put_live(row)
        if len(got) < asked:
            s.complete = True

    def apply(self, f: KlineFrame) -> None:
        """One frame of the stream."""
        s = self._series.setdefault((f.symbol, f.interval), _Series())
        if f.closed:
            s.put_closed(f.row)
        else:
            s.put_live(f.row)

    def holds(self, symbol: str, interval: str) -> bool:
        """Whether this (symbol, interval) is cached."""
        return (symbol, interval) in self._series

    def last_closed(self, symbol: str, interval: str) -> Row | None:
        """The newest closed row, if any."""
        s = self._series.get((symbol, interval))
        return s.rows[-1] if s is not None and s.rows else None

    def closed_after(self, symbol: str, interval: str, open_time: int) -> list[Row]:
        """Closed rows opened after ``open_time``, oldest first."""
        s = self._series.get((symbol, interval))
        if s is None:
            return []
        return s.rows[bisect.bisect_right(s.times, open_time) :]

    def select(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[Row] | None:
        """Rows for ``(startTime, endTime, limit)`` as Binance pages them (with a start: the
        first ``limit`` from it; otherwise the last ``limit`` up to ``end``), the candle in
        progress included; ``None`` when the cache cannot answer for the source."""
        s = self._series.get((symbol, interval))
        if s is None:
            return None
        lo, hi = 0, len(s.times)
        if start is not None:
            lo = bisect.bisect_left(s.times, start)
        if end is not None:
            hi = bisect.bisect_right(s.times, end)
        live = s.live
        live_ok = (
            live is not None
            and (start is None or int(live[0]) >= start)
            and (end is None or int(live[0]) <= end)
        )
        rows = s.rows[lo:hi] + ([live] if live_ok and live is not None else [])
        if start is not None:
            before_cache = not s.times or start < s.times[0]
            rows = rows[:limit]
        else:
            before_cache = len(rows) < limit
            rows = rows[-limit:]
        if before_cache and not s.complete:
            return None
        return rows
