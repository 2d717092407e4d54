"""The pieces of ``/backtest`` that need no chat: what may run and why not, the command line
it becomes, the progress throttle (also on a clock the test moves), the words of the result,
the worker's environment, and LINE publishing an image from outside its chart folder."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot import backtest_data as bd
from bot.backtest_jobs import BacktestJob, Throttle, prune_runs, worker_env
from bot.backtest_text import figures_text
from bot.channel import Reply
from bot.line.images import SignedImages
from greenlight.core.clock import Clock, SystemClock
from greenlight.core.contracts import Market
from greenlight.core.settings import Settings
from greenlight.core.settings_backtest import BacktestSettings
from tests.fakes.clock import FakeClock
from tests.helpers import eventually

REPO = Path(__file__).resolve().parents[2]
BTC = REPO / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
DAY = 86_400_000
Q = 900_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _span(first: str, days: int) -> bd.Span:
    start = _ms(first)
    return bd.Span(np.arange(start, start + days * DAY, Q, dtype=np.int64), "15m")


def _settings(**backtest: Any) -> Settings:
    return Settings(backtest=BacktestSettings(**backtest))


def _check(*args: str, settings: Settings | None = None) -> bd.Request | str:
    s = settings or _settings()
    sets = bd.datasets(s)
    return bd.check(args, sets, {"BTCUSDT": _span("2019-01-01", 730)}, s)


def test_the_bundled_files_of_followed_symbols_only() -> None:
    s = Settings()
    assert [(d.symbol, d.market) for d in bd.datasets(s)] == [("BTCUSDT", Market.SPOT)]
    both = s.model_copy(
        update={"market": s.market.model_copy(update={"futures_symbols": ("XRPUSDT",)})}
    )
    [btc, xrp] = bd.datasets(both)
    assert (xrp.symbol, xrp.market, xrp.path.name) == (
        "XRPUSDT",
        Market.USDM,
        "XRPUSDT-perp-5m-futures.csv",
    )
    assert xrp.funding is not None and xrp.funding.name == "XRPUSDT-perp-8h-funding_rate.csv"
    assert btc.funding is None
    mine = _settings(chat_data=("data/XRPUSDT-perp-1h-futures.csv",))
    assert bd.datasets(mine) == []  # XRPUSDT is not followed by this bot


def test_a_request_becomes_the_backtest_command_line() -> None:
    req = _check("btcusdt", "2020-03-01", "2020-03-31")
    assert isinstance(req, bd.Request)
    assert (req.first, req.last, req.tf, req.warmup) == (
        date(2020, 3, 1),
        date(2020, 3, 31),
        "15m",
        300,
    )
    assert req.candles == 31 * 96
    assert req.load_from_ms == _ms("2020-03-01") - 300 * Q
    assert req.command() == (
        "greenlight backtest data/BTCUSDT-15m-2019-2020.csv.gz --tf 15m "
        "--from 2020-02-26T21:00:00Z --to 2020-04-01T00:00:00Z --warmup 300 "
        "--news data/news/us-macro-2019-2021.csv --reproducible"
    )
    argv = req.argv(Path("/out/x"))
    assert argv[0] == str(BTC) and argv[-2:] == ["--out", "/out/x"]
    assert req.label == "BTCUSDT spot 15m · 2020-03-01 → 2020-03-31"
    early = _check("BTCUSDT", "2019-01-02", "2019-01-03")
    assert isinstance(early, bd.Request) and early.warmup == 96  # only what the file has


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "Usage: /backtest SYMBOL FROM TO"),
        (("BTCUSDT", "2020-03-01"), "Usage: /backtest SYMBOL FROM TO"),
        (("ETHUSDT", "2020-03-01", "2020-03-02"), "No candle data for ETHUSDT"),
        (("BTCUSDT", "2020-3-1", "2020-03-02"), "UTC dates like 2020-03-01 (got '2020-3-1')"),
        (("BTCUSDT", "2020-03-01", "2020-02-30"), "(got '2020-02-30')"),
        (("BTCUSDT", "2020-03-02", "2020-03-01"), "TO 2020-03-01 is before FROM 2020-03-02"),
        (("BTCUSDT", "2018-12-01", "2019-01-05"), "covers 2019-01-01 → 2020-12-30"),
        (("BTCUSDT", "2020-12-01", "2021-01-05"), "is outside it"),
        (("BTCUSDT", "2019-01-01", "2020-01-02"), "is 367 days; at most 366"),
    ],
)
def test_bad_requests_say_why_and_what_is_valid(args: tuple[str, ...], words: str) -> None:
    text = _check(*args)
    assert isinstance(text, str) and words in text, text
    if text.startswith(("Usage", "No candle data")):
        assert "BTCUSDT spot 15m 2019-01-01 → 2020-12-30" in text


def test_the_span_limit_is_a_setting() -> None:
    text = _check("BTCUSDT", "2020-03-01", "2020-03-08", settings=_settings(chat_max_days=7))
    assert isinstance(text, str) and "at most 7 per chat backtest" in text
    ok = _check("BTCUSDT", "2020-03-01", "2020-03-07", settings=_settings(chat_max_days=7))
    assert isinstance(ok, bd.Request)


async def test_the_perpetuals_5m_file_runs_at_the_engines_timeframe() -> None:
    s = Settings()
    s = s.model_copy(
        update={"market": s.market.model_copy(update={"futures_symbols": ("XRPUSDT",)})}
    )
    xrp = REPO / "data" / "XRPUSDT-perp-5m-futures.csv"
    span = await bd.Spans().of(xrp)
    assert span.tf == "5m"
    req = bd.check(("XRPUSDT", "2021-11-17", "2021-11-18"), bd.datasets(s), {"XRPUSDT": span}, s)
    assert isinstance(req, bd.Request), req
    assert req.tf == "15m" and req.candles == 2 * 96  # two days of 15m candles, as live sees
    assert req.label == "XRPUSDT usdm 15m · 2021-11-17 → 2021-11-18"
    assert "--tf 15m" in req.command()
    hourly = bd.Span(np.arange(0, 30 * DAY, 3_600_000, dtype=np.int64), "1h")
    assert bd.run_timeframe(hourly, "15m") == "1h"  # a coarser file runs at its own


def test_a_gap_with_no_candles_is_refused() -> None:
    t = np.concatenate([np.arange(0, 10 * DAY, Q), np.arange(20 * DAY, 30 * DAY, Q)])
    span = bd.Span(t.astype(np.int64) + _ms("2020-01-01"), "15m")
    s = Settings()
    text = bd.check(("BTCUSDT", "2020-01-12", "2020-01-15"), bd.datasets(s), {"BTCUSDT": span}, s)
    assert text == "BTCUSDT has no candles from 2020-01-12 to 2020-01-15 (a gap in the data)."


async def test_spans_are_read_once_from_the_file() -> None:
    spans = bd.Spans()
    first = await spans.of(BTC)
    assert (first.tf, str(first.first_day), str(first.last_day)) == (
        "15m",
        "2018-12-31",
        "2020-12-31",
    )
    assert await spans.of(BTC) is first


def test_the_throttle_waits_the_interval_and_skips_an_unchanged_percent() -> None:
    t = Throttle(2.0)
    assert t.wait_s(100.0) == 0.0 and t.changed(0)
    t.mark(5, 100.0)
    assert t.wait_s(100.5) == pytest.approx(1.5)
    assert t.wait_s(102.0) == 0.0
    assert not t.changed(5) and t.changed(6)


class _Recorder:
    """A :class:`bot.channel.LiveMessage` that notes when each edit came."""

    def __init__(self, editable: bool = True) -> None:
        self.editable = editable
        self.edits: list[tuple[float, str]] = []
        self.sent: list[Reply] = []

    async def edit(self, text: str) -> None:
        self.edits.append((asyncio.get_running_loop().time(), text))

    async def send(self, reply: Reply) -> None:
        self.sent.append(reply)


def _job(interval: float, clock: Clock = SystemClock()) -> BacktestJob:
    req = _check("BTCUSDT", "2020-03-01", "2020-03-02")
    assert isinstance(req, bd.Request)
    settings = _settings(chat_progress_interval_s=interval)
    out = Path("/nowhere")
    return BacktestJob(settings, req, "ann", "console:local", out, clock)


async def test_progress_edits_keep_the_interval_and_show_the_latest_percent() -> None:
    job, live = _job(0.5), _Recorder()
    shows = asyncio.create_task(job.show_progress())
    job.attach(live)  # the start message (0 %) counts as shown now
    attached = asyncio.get_running_loop().time()
    try:
        for edits in (1, 2, 3):
            # a burst of progress between two edits: only the latest percentage is shown
            for pct in range(edits * 10, edits * 10 + 5):
                job.advance(pct / 100, "BTCUSDT")
            await eventually(lambda n=edits: _true(len(live.edits) == n), 10, f"edit {edits}")
            assert f"{edits * 10 + 4}%" in live.edits[-1][1]
    finally:
        shows.cancel()
    times = [attached, *(at for at, _ in live.edits)]
    assert all(b - a >= 0.5 for a, b in zip(times, times[1:], strict=False)), times


async def test_a_run_is_timed_and_its_edits_throttled_on_the_clock() -> None:
    clock = FakeClock()
    job, live = _job(60.0, clock), _Recorder()
    shows = asyncio.create_task(job.show_progress())
    job.attach(live)  # the start (0 %) is shown: the next edit waits a minute on the clock
    try:
        clock.advance(75)
        job.advance(0.42, "BTCUSDT")
        await eventually(lambda: _true(len(live.edits) == 1), 10, "the edit past the minute")
    finally:
        shows.cancel()
    assert "42%" in live.edits[0][1] and "75 s" in live.edits[0][1]
    assert "started by ann 75 s ago" in job.busy_text()


def test_the_figures_are_summary_json_rounded_for_a_phone() -> None:
    req = _check("BTCUSDT", "2020-05-28", "2020-06-08")
    assert isinstance(req, bd.Request)
    figures = {
        "trades": 2,
        "win_rate": 0.5,
        "profit_factor": 1.801234,
        "expectancy_r": -0.40567,
        "max_drawdown_pct": 0.561,
        "start_equity_quote": "10000",
        "final_equity_quote": "10040.23",
        "fees_quote": "7.41999892",
        "candles": 1452,
    }
    text = figures_text(req, figures, REPO / "var" / "backtests" / "run", "fusion")
    assert text.splitlines()[:6] == [
        "📊 Backtest BTCUSDT spot 15m · 2020-05-28 → 2020-06-08",
        "1,452 candles, the first 300 only warming up · agent fusion",
        "Trades 2 · win rate 50.0% · profit factor 1.80",
        "Expectancy -0.41R · max drawdown 0.56%",
        "Equity 10,000.00 → 10,040.23 USDT · fees 7.42 USDT",
        "Output: var/backtests/run/",
    ]
    assert text.splitlines()[6] == f"Same as: {req.command()} --out DIR"
    none = figures_text(
        req,
        {**figures, "trades": 0, "win_rate": None, "profit_factor": None, "expectancy_r": None},
        REPO,
        "fusion",
    )
    assert "Trades 0 · win rate n/a · profit factor n/a" in none
    assert "Expectancy n/aR" not in none and "Expectancy n/a " in none


def test_the_worker_gets_no_secret() -> None:
    env = {
        "PATH": "/bin",
        "PYTHONPATH": "/x",
        "GREENLIGHT_TELEGRAM_TOKEN": "1:abc",
        "GREENLIGHT_BINANCE_API_SECRET": "s",
        "GREENLIGHT_SECRETS_FILE": "/etc/gl",
        "GREENLIGHT_ROUTER_TOKEN": "t",
    }
    assert worker_env(env) == {"PATH": "/bin", "PYTHONPATH": "/x"}


def test_line_publishes_an_image_from_outside_its_folder(tmp_path: Path) -> None:
    charts, run = tmp_path / "charts", tmp_path / "BTCUSDT-20200301-20200331-20260101T000000Z"
    charts.mkdir()
    run.mkdir()
    (run / "equity.png").write_bytes(b"\x89PNG equity")
    images = SignedImages(b"k" * 32, charts, "https://bot.example.test", 60, SystemClock())
    copy = images.publish(run / "equity.png")
    assert copy.parent == charts.resolve() and copy.read_bytes() == b"\x89PNG equity"
    assert copy.name == "BTCUSDT-20200301-20200331-20260101T000000Z-equity.png"
    url = images.url(copy)
    name, query = url.split("/line/img/")[1].split("?")
    e, s = (part.split("=", 1)[1] for part in query.split("&"))
    assert images.resolve(name, e, s) == copy
    assert images.publish(copy) == copy  # already there: no second copy


async def _true(value: object) -> bool:
    return bool(value)


def test_old_run_folders_are_pruned_and_nothing_else(tmp_path: Path) -> None:
    stamps = ["20261201T090000Z", "20261203T120000Z", "20261202T080000Z", "20261204T070000Z"]
    runs = [tmp_path / f"BTCUSDT-20200301-20200331-{s}" for s in stamps]
    for r in runs:
        (r / "nested").mkdir(parents=True)
    (tmp_path / "notes").mkdir()  # not a run: kept whatever its age
    (tmp_path / "XRPUSDT-20211117-20211118-20261130T000000Z.txt").write_text("a file")
    removed = prune_runs(tmp_path, 2)
    assert sorted(p.name for p in removed) == sorted(runs[i].name for i in (0, 2))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [runs[1].name, runs[3].name, "notes", "XRPUSDT-20211117-20211118-20261130T000000Z.txt"]
    )
    assert prune_runs(tmp_path, 2) == [] and prune_runs(tmp_path / "absent", 1) == []
