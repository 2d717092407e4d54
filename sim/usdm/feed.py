"""Mark price and funding of one perpetual, from files where present, otherwise derived.

* Mark price at historical time ``t``: the mark candle covering ``t`` (any interval),
  interpolated linearly from its open to its close; outside the file's range, the last
  contract price (derived mark).
* Funding rate at funding time ``f``: the row of the funding file stamped within a minute
  after ``f`` (Binance stamps settle a few ms late); otherwise the default rate 0.0001
  (0.01 %, the interest-rate baseline a flat premium yields).
* Funding times lie on the ``interval_hours`` grid from 00:00 UTC (8 h by default).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from greenlight.core.candlefile import CandleArrays

DEFAULT_RATE = Decimal("0.0001")
STAMP_SLACK_MS = 60_000
SETTLE_STAMP_MS = 1_000  # settlement stamps trail the funding time by a few ms
HOUR_MS = 3_600_000


class FundingFeed:
    """Mark price, funding rates and the funding schedule of one symbol."""

    def __init__(
        self,
        mark: CandleArrays | None,
        funding: CandleArrays | None,
        interval_hours: int = 8,
    ) -> None:
        self.mark = mark if mark is not None and len(mark) > 0 else None
        self.funding = funding if funding is not None and len(funding) > 0 else None
        self.interval_ms = interval_hours * HOUR_MS
        self.interval_hours = interval_hours
        self._mark_ms = 0
        if self.mark is not None and len(self.mark) > 1:
            self._mark_ms = int(np.min(np.diff(self.mark.open_time)))

    def mark_at(self, t: int, last: float) -> float:
        """Mark price at historical time ``t`` (``last`` when the file does not cover it)."""
        m = self.mark
        if m is None or self._mark_ms <= 0:
            return last
        i = int(np.searchsorted(m.open_time, t, side="right")) - 1
        if i < 0 or t >= int(m.open_time[i]) + self._mark_ms:
            return last
        frac = (t - int(m.open_time[i])) / self._mark_ms
        return float(m.open[i] + (m.close[i] - m.open[i]) * frac)

    def next_funding_time(self, t: int) -> int:
        """First funding time strictly after ``t``."""
        return (t // self.interval_ms + 1) * self.interval_ms

    def funding_times(self, after: int, upto: int) -> list[int]:
        """Funding times ``f`` with ``after < f <= upto``."""
        first = self.next_funding_time(after)
        return list(range(first, upto + 1, self.interval_ms)) if first <= upto else []

    def rate_at(self, f: int) -> Decimal:
        """Funding rate settled at funding time ``f``."""
        fu = self.funding
        if fu is not None:
            i = int(np.searchsorted(fu.open_time, f, side="left"))
            if i < len(fu) and int(fu.open_time[i]) - f < STAMP_SLACK_MS:
                return Decimal(repr(float(fu.open[i])))
        return DEFAULT_RATE

    def history(self, start: int | None, end: int, limit: int) -> list[tuple[int, Decimal]]:
        """(fundingTime, rate) of past settlements up to ``end``, ascending, Binance paging
        (most recent ``limit`` without ``start``). A settlement stamped a few ms after its
        funding time counts as settled once the clock reaches the funding time."""
        fu = self.funding
        if fu is None:
            return []
        times = fu.open_time
        hi = int(np.searchsorted(times, end + SETTLE_STAMP_MS, side="right"))
        lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
        rows = [(int(times[i]), Decimal(repr(float(fu.open[i])))) for i in range(lo, hi)]
        return rows[:limit] if start is not None else rows[-limit:]
