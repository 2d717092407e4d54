"""Walk-forward folds and the candle windows a run sees.

``--walk-forward train=6M,test=1M``: lengths in calendar months (``M``), weeks (``W``) or
days (``D``), UTC. Fold ``k`` (from 1) tests on ``[start + train + (k-1)·test, … + test)``
and trains on the ``train`` before it; folds step by the test length, so the test windows
tile the range without gap or overlap. When the data ends inside a test window, that last
window ends with the data (``test_to`` in ``folds.csv`` says where).
``start`` is ``--from``, or the first UTC midnight at or after the first candle (the
candles before it only warm the first fold up).

A run over a window ``[a, b)`` (:func:`window_stream`) gets the window's candles plus up to
``warmup`` candles before ``a``: those only warm the stages up (features, SMC, retest, regime
carry their state into the window) and no decision is made on them, as the live engine's
``market.warmup_candles``. When the file has fewer than ``warmup`` candles before ``a`` (the
first fold), the window's own first candles make up the difference and are not traded either.
Nothing at or after ``b`` is in the run, so a position still open at the window's last close is
closed there (``end_of_data``).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from engine.backtest.run import Stream
from greenlight.core.candlefile import CandleArrays

_PERIOD = re.compile(r"^([1-9][0-9]{0,3})([MWD])$")
UNITS = {"M": "month", "W": "week", "D": "day"}


class FoldError(ValueError):
    """``--walk-forward`` cannot be used on this data; the message says why."""


@dataclass(frozen=True)
class Period:
    """A length in calendar units: ``6M``, ``2W``, ``30D``."""

    count: int
    unit: str  # M, W or D

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def add(self, ms: int, times: int = 1) -> int:
        """``ms`` (epoch ms, UTC) plus ``times`` of this period; a month step keeps the day
        of the month where it exists and clamps to the month's last day where not."""
        n = self.count * times
        if self.unit == "D":
            return ms + n * 86_400_000
        if self.unit == "W":
            return ms + n * 7 * 86_400_000
        d = datetime.fromtimestamp(ms / 1000, UTC)
        months = d.year * 12 + d.month - 1 + n
        year, month = divmod(months, 12)
        day = min(d.day, calendar.monthrange(year, month + 1)[1])
        moved = d.replace(year=year, month=month + 1, day=day)
        return int((moved - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


def parse_period(text: str, what: str) -> Period:
    """``6M`` / ``2W`` / ``30D`` (``what`` names it in the error)."""
    m = _PERIOD.match(text.strip())
    if not m:
        raise FoldError(
            f"--walk-forward {what}={text!r}: write a count and a unit, M (months), W (weeks) "
            "or D (days), e.g. 6M, 2W, 30D"
        )
    return Period(int(m.group(1)), m.group(2))


def parse_walk_forward(text: str) -> tuple[Period, Period]:
    """``train=6M,test=1M`` → (train, test)."""
    parts: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in ("train", "test") or key in parts:
            raise FoldError(f"--walk-forward {text!r}: write train=LENGTH,test=LENGTH, e.g. 6M,1M")
        parts[key] = value
    if set(parts) != {"train", "test"}:
        raise FoldError(f"--walk-forward {text!r}: both train= and test= are needed")
    return parse_period(parts["train"], "train"), parse_period(parts["test"], "test")


@dataclass(frozen=True)
class Fold:
    """One fold: train on ``[train_from, train_to)``, test on ``[test_from, test_to)``."""

    number: int  # from 1
    train_from: int
    train_to: int
    test_from: int
    test_to: int


def make_folds(start: int, end: int, train: Period, test: Period) -> list[Fold]:
    """The folds over ``[start, end)`` (see the module docstring); a :class:`FoldError`
    when not even one fits."""
    folds = []
    first_test = train.add(start)
    k = 0
    while (b := test.add(first_test, k)) < end:  # every boundary from one anchor: they tile
        c = min(test.add(first_test, k + 1), end)
        folds.append(Fold(k + 1, train.add(b, -1), b, b, c))
        k += 1
    if not folds:
        days = (end - start) / 86_400_000
        raise FoldError(
            f"--walk-forward train={train},test={test} needs a {train} train window and test "
            f"candles after it, but the data covers {_day(start)} → {_day(end)} ({days:.1f} days)"
        )
    return folds


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def first_midnight(ms: int) -> int:
    """The first UTC midnight at or after ``ms``."""
    return -(-ms // 86_400_000) * 86_400_000


def data_range(streams: list[Stream]) -> tuple[int, int]:
    """First open time and last close time over the streams."""
    have = [st for st in streams if len(st.candles)]
    if not have:
        raise FoldError("no candles in the chosen range")
    lo = min(int(st.candles.open_time[0]) for st in have)
    hi = max(int(st.candles.open_time[-1]) + st.tf_ms for st in have)
    return lo, hi


def _by_time(c: CandleArrays, lo: int, hi: int) -> CandleArrays:
    t = c.open_time
    return c.slice(int(np.searchsorted(t, lo, "left")), int(np.searchsorted(t, hi, "left")))


def window_stream(st: Stream, a: int, b: int, warmup: int) -> Stream | None:
    """``st`` cut to the window ``[a, b)`` with its warm-up candles before it (see the module
    docstring); None when the stream has no candle in the window."""
    t = st.candles.open_time
    ia, ib = int(np.searchsorted(t, a, "left")), int(np.searchsorted(t, b, "left"))
    if ib <= ia:
        return None
    lo = max(0, ia - warmup)
    first = max(ia, lo + warmup)  # the first candle a decision may be made on
    c = st.candles.slice(lo, ib)
    sub = _by_time(st.sub, int(t[lo]), b) if st.sub is not None else None
    micro = (st.micro[0][lo:ib], st.micro[1][lo:ib]) if st.micro is not None else None
    funding = None
    if st.funding is not None:  # up to the rate the window's end predicts (the guard reads it)
        k = int(np.searchsorted(st.funding[0], b, "left")) + 1
        funding = (st.funding[0][:k], st.funding[1][:k])
    # rules stay None: each run derives them from its own candles (nothing from later data)
    return Stream(st.symbol, st.market, st.tf, c, sub, micro, funding, None, first - lo)
