"""Building the USD-M half of a simulator run from files (read, resample, rules, replay)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from greenlight.core.candlefile import TIME_COLUMNS, CandleArrays, read_candles
from sim.replay.clock import ClockMode, market_shift, shift_all, wall_ms
from sim.replay.intervals import TF_MS, plan_intervals
from sim.replay.player import Replay
from sim.replay.resample import file_interval_ms, resample
from sim.spot.filters import rules_for
from sim.usdm.feed import FundingFeed
from sim.usdm.matching import FuturesBook
from sim.usdm.rules import fut_rules_from
from sim.usdm.state import FutState


@dataclass(frozen=True)
class FuturesData:
    """Candles (at the replay timeframe), mark candles and funding rows per symbol."""

    candles: Mapping[str, CandleArrays]
    marks: Mapping[str, CandleArrays]
    funding: Mapping[str, CandleArrays]
    served: tuple[str, ...] = ()  # intervals served, the replay's (candles') first


def load_futures(
    files: Mapping[str, Path],
    mark_files: Mapping[str, Path],
    funding_files: Mapping[str, Path],
    tf: str,
    extra_intervals: Sequence[str] = (),
) -> FuturesData:
    """Read every futures file; trade candles are resampled upward to the finest interval
    of ``tf`` + ``extra_intervals`` that every file allows (see :func:`plan_intervals`)."""
    for name, extra in (("mark_files", mark_files), ("funding_files", funding_files)):
        unknown = set(extra) - set(files)
        if unknown:
            raise ValueError(f"{name} names symbols without a futures file: {sorted(unknown)}")
    try:
        raw = {s: read_candles(p) for s, p in files.items()}
        served = plan_intervals(
            {s: file_interval_ms(a) for s, a in raw.items()}, tf, extra_intervals
        )
        candles = {s: resample(a, TF_MS[served[0]]) for s, a in raw.items()}
    except ValueError as exc:
        raise ValueError(f"futures candle file: {exc}") from exc
    marks = {s: read_series(p) for s, p in mark_files.items()}
    funding = {s: read_series(p) for s, p in funding_files.items()}
    return FuturesData(candles, marks, funding, served)


def read_series(path: Path) -> CandleArrays:
    """Open time, open and close of a mark-price or funding file (freqtrade layout: funding
    rate in ``open``, zero high/low, empty volume — so no OHLC validation)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise ValueError(f"{path}: no data rows")
    head = [c.strip().lower() for c in rows[0]]
    try:
        t_i = next(head.index(c) for c in TIME_COLUMNS if c in head)
        o_i, c_i = head.index("open"), head.index("close")
    except (StopIteration, ValueError):
        raise ValueError(f"{path}:1: needs an open-time column, open and close") from None
    times, opens, closes = [], [], []
    for n, row in enumerate(rows[1:], start=2):
        try:
            times.append(int(float(row[t_i])))
            opens.append(float(row[o_i]))
            closes.append(float(row[c_i]))
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{n}: expected epoch-ms time and numeric open/close") from None
    t = np.array(times, np.int64)
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{path}: open times must increase strictly")
    o, c = np.array(opens), np.array(closes)
    return CandleArrays(t, o, np.maximum(o, c), np.minimum(o, c), c, np.zeros(len(t)), False)


@dataclass(frozen=True)
class ReplayOptions:
    """The replay knobs shared with the spot replay."""

    tf_ms: int
    interval: str
    history_candles: int
    candles_per_second: float
    updates_per_candle: int
    max_candles: int | None
    start_paused: bool


def build_futures(
    data: FuturesData,
    opts: ReplayOptions,
    balances: Mapping[str, Decimal],
    default_leverage: int,
    listen_key_ttl: float,
    clock: ClockMode = "historical",
    anchor_ms: int | None = None,
) -> FutState:
    """The futures state: rules, book with accounts, replay (own clock) and feeds; with
    ``clock="now"`` candles, marks and funding move together by the whole days that bring
    the first replayed candle nearest to ``anchor_ms`` (the spot replay's start; the wall
    clock when ``None``)."""
    rules = {}
    for symbol, arr in data.candles.items():
        spot = rules_for(symbol, arr.close[:: max(1, len(arr) // 2000)].tolist())
        rules[symbol] = fut_rules_from(spot)
    book = FuturesBook(rules, default_leverage)
    for key, wallet in balances.items():
        book.add_account(key, wallet)
    shortest = min(len(a) for a in data.candles.values())
    history = min(opts.history_candles, shortest // 2)
    anchor = wall_ms() if anchor_ms is None else anchor_ms
    shift = market_shift(clock, data.candles, history, anchor)
    data = FuturesData(
        shift_all(data.candles, shift),
        shift_all(data.marks, shift),
        shift_all(data.funding, shift),
        data.served,
    )
    replay = Replay(
        data.candles,
        opts.tf_ms,
        history_candles=history,
        candles_per_second=opts.candles_per_second,
        updates_per_candle=opts.updates_per_candle,
        max_candles=opts.max_candles,
        start_paused=opts.start_paused,
        price_decimals={s: r.price_precision for s, r in rules.items()},
        shift_ms=shift,
    )
    feeds = {s: FundingFeed(data.marks.get(s), data.funding.get(s)) for s in data.candles}
    return FutState(
        replay,
        book,
        data.candles,
        feeds,
        opts.interval,
        opts.tf_ms,
        listen_key_ttl,
        data.served,
    )
