"""What ``/backtest SYMBOL FROM TO`` may run on, and the checks of its arguments.

The candle files are ``backtest.chat_data`` (by default the simulator's bundled files,
``sim.data_file`` and ``sim.futures_data_file``); a file's symbol and market come from its
name as for ``greenlight backtest``, and only symbols this bot follows in that market may be
backtested. A request becomes the very ``greenlight backtest`` command line that the worker
runs (:meth:`Request.argv`) and that the reply shows (:meth:`Request.command`): the engine's
timeframe (a finer file is resampled to it, as the simulator serves it live; see
:func:`run_timeframe`), FROM's first candle to TO's last (both UTC dates, both included), the
``market.warmup_candles`` before FROM warming the stages up, the news calendar the engine
uses, and ``--reproducible``.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from greenlight.core.candlefile import detect_interval_ms, file_market, file_symbol, read_candles
from greenlight.core.contracts import Market
from greenlight.core.settings import REPO_ROOT, TIMEFRAMES_MS, Settings

DAY_MS = 86_400_000
USAGE = (
    "/backtest SYMBOL FROM TO (UTC dates, both included), "
    "e.g. /backtest BTCUSDT 2020-03-01 2020-03-31"
)


@dataclass(frozen=True)
class Dataset:
    """One candle file /backtest may use."""

    symbol: str
    market: Market
    path: Path
    funding: Path | None = None


@dataclass(frozen=True)
class Span:
    """The candles of a file: open times and interval (``tf`` is ``None`` when the interval
    is not a timeframe Greenlight knows)."""

    open_time: npt.NDArray[np.int64]
    tf: str | None

    @property
    def first_day(self) -> date:
        """UTC date of the first candle."""
        return _day(int(self.open_time[0]))

    @property
    def last_day(self) -> date:
        """UTC date of the last candle."""
        return _day(int(self.open_time[-1]))


@dataclass(frozen=True)
class Request:
    """A checked /backtest: the file, the days and the candles it covers."""

    dataset: Dataset
    tf: str
    first: date
    last: date
    load_from_ms: int  # the first candle read (warm-up included)
    warmup: int
    candles: int  # candles from FROM's first to TO's last
    news: Path | None

    @property
    def label(self) -> str:
        """``BTCUSDT spot 15m · 2020-03-01 → 2020-03-31``."""
        d = self.dataset
        return f"{d.symbol} {d.market.value} {self.tf} · {self.first} → {self.last}"

    def argv(self, out: Path) -> list[str]:
        """The worker's ``greenlight backtest`` arguments (absolute paths, ``--out out``)."""
        return [*self._args(_absolute), "--out", str(out)]

    def command(self) -> str:
        """The command line that writes the same files (run from the repository with the
        bot's settings; add ``--out DIR``)."""
        return shlex.join(["greenlight", "backtest", *self._args(shown_path)])

    def _args(self, path: Callable[[Path], str]) -> list[str]:
        end = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), UTC)
        args = [path(self.dataset.path), "--tf", self.tf, "--from", _iso(self.load_from_ms)]
        args += ["--to", end.strftime("%Y-%m-%dT%H:%M:%SZ"), "--warmup", str(self.warmup)]
        if self.dataset.funding is not None:
            args += ["--funding", path(self.dataset.funding)]
        if self.news is not None:
            args += ["--news", path(self.news)]
        return [*args, "--reproducible"]


def datasets(settings: Settings) -> list[Dataset]:
    """The candle files of ``backtest.chat_data`` (or the simulator's) whose symbol this
    bot follows in the file's market."""
    bt, sim = settings.backtest, settings.sim
    files = bt.chat_data or (sim.data_file, sim.futures_data_file)
    funding_files = bt.chat_funding or (sim.futures_funding_file,)
    funding = {file_symbol(Path(f)): settings.resolve_path(f) for f in funding_files if f}
    followed = {
        Market.SPOT: set(settings.market.symbols),
        Market.USDM: set(settings.market.futures_symbols),
    }
    out: list[Dataset] = []
    for f in files:
        if not f:
            continue
        path = settings.resolve_path(f)
        symbol, market = file_symbol(path), file_market(path)
        if symbol in followed[market] and all(d.symbol != symbol for d in out):
            fund = funding.get(symbol) if market is Market.USDM else None
            out.append(Dataset(symbol, market, path, fund))
    return out


class Spans:
    """The candle span of each file, read once (in a thread) and again when it changes."""

    def __init__(self) -> None:
        self._known: dict[Path, tuple[tuple[int, int], Span]] = {}

    async def of(self, path: Path) -> Span:
        """The file's span; raises ``OSError`` or :class:`CandleFileError`."""
        st = await asyncio.to_thread(path.stat)
        stamp = (st.st_mtime_ns, st.st_size)
        known = self._known.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        candles = await asyncio.to_thread(read_candles, path)
        if not len(candles.open_time):
            raise ValueError(f"{path.name} has no candles")
        step = detect_interval_ms(candles.open_time)
        tf = next((name for name, ms in TIMEFRAMES_MS.items() if ms == step), None)
        span = Span(candles.open_time, tf)
        self._known[path] = (stamp, span)
        return span


def listing(spans: dict[str, Span], sets: list[Dataset]) -> str:
    """``BTCUSDT spot 15m 2018-12-31 → 2020-12-31; …`` (or why there is nothing)."""
    if not sets:
        return "none: no candle file of a followed symbol (set backtest.chat_data)"
    parts = []
    for d in sets:
        s = spans.get(d.symbol)
        if s is None or s.tf is None:
            parts.append(f"{d.symbol} (its file {d.path.name} cannot be read)")
        else:
            parts.append(f"{d.symbol} {d.market.value} {s.tf} {s.first_day} → {s.last_day}")
    return "; ".join(parts)


def check(
    args: tuple[str, ...], sets: list[Dataset], spans: dict[str, Span], settings: Settings
) -> Request | str:
    """The request ``args`` describe, or what is wrong with them (with the valid choices)."""
    valid = f"Backtests can run on: {listing(spans, sets)}."
    if len(args) != 3:
        return f"Usage: {USAGE}\n{valid}"
    symbol = args[0].upper()
    d = next((x for x in sets if x.symbol == symbol), None)
    span = spans.get(symbol)
    if d is None or span is None or span.tf is None:
        return f"No candle data for {symbol}. {valid}"
    days = [_date(a) for a in args[1:]]
    if days[0] is None or days[1] is None:
        bad = next(a for a, v in zip(args[1:], days, strict=True) if v is None)
        return f"FROM and TO are UTC dates like 2020-03-01 (got {bad!r}). Usage: {USAGE}"
    first, last = days[0], days[1]
    if last < first:
        return f"TO {last} is before FROM {first}."
    if first < span.first_day or last > span.last_day:
        return (
            f"{symbol} candle data covers {span.first_day} → {span.last_day}; "
            f"{first} → {last} is outside it."
        )
    most = settings.backtest.chat_max_days
    length = (last - first).days + 1
    if length > most:
        return (
            f"{first} → {last} is {length} days; at most {most} per chat backtest "
            "(backtest.chat_max_days). Run greenlight backtest for longer spans."
        )
    return _request(d, span, first, last, settings)


def _request(d: Dataset, span: Span, first: date, last: date, settings: Settings) -> Request | str:
    tf = run_timeframe(span, settings.market.timeframe)
    step = TIMEFRAMES_MS[tf]
    # open times at the run's timeframe (a finer file is resampled by the backtest)
    t = span.open_time if tf == span.tf else np.unique(span.open_time // step) * step
    lo = int(np.searchsorted(t, _ms(first), side="left"))
    hi = int(np.searchsorted(t, _ms(last) + DAY_MS, side="left"))
    if hi <= lo:
        return f"{d.symbol} has no candles from {first} to {last} (a gap in the data)."
    warm = min(settings.market.warmup_candles, lo)
    news = settings.news.calendar_file
    return Request(
        d,
        tf,
        first,
        last,
        int(t[lo - warm]),
        warm,
        hi - lo,
        settings.resolve_path(news) if news else None,
    )


def run_timeframe(span: Span, timeframe: str) -> str:
    """The timeframe a backtest of the file runs at: the engine's (``market.timeframe``)
    when the file's interval is it or a finer one dividing it, as the live engine sees the
    market; the file's own otherwise."""
    assert span.tf is not None
    own, want = TIMEFRAMES_MS[span.tf], TIMEFRAMES_MS[timeframe]
    return timeframe if own <= want and want % own == 0 else span.tf


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _ms(d: date) -> int:
    return int(datetime.combine(d, datetime.min.time(), UTC).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _absolute(path: Path) -> str:
    return str(path.resolve())


def shown_path(path: Path) -> str:
    """A path as the chat shows it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
