"""``greenlight backtest --grid … [--walk-forward …]`` on a short range of the bundled 2019–2020
BTCUSDT file: folds, grid validation, warm-up before every window, a test fold that never sees
its own optimisation, the same bytes whatever the number of workers, and a sweep row that is
the plain backtest of its setting."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.backtest.cli import run_backtest
from engine.backtest.folds import (
    FoldError,
    Period,
    first_midnight,
    make_folds,
    parse_walk_forward,
    window_stream,
)
from engine.backtest.grid import GridError, apply, parse_grid, points
from engine.backtest.inputs import load_streams, parse_time
from engine.backtest.run import Stream
from engine.backtest.walkforward import Job, best, rank, score, standing, walk_forward
from greenlight.core.candlefile import CandleArrays
from greenlight.core.contracts import Market
from greenlight.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
DAY = 86_400_000
# The starter agent with its cost and volatility filters opened trades often enough for a
# short range to rank grid points on (the default fusion agent trades ~once a month).
BUSY = Settings.model_validate(
    {
        "strategy": {"agent": "starter"},
        "volatility": {"block": []},
        "risk": {"max_cost_fraction_of_r": "10"},
    }
)
GRID = ["--grid", "strategy.atr_stop_mult=1.0,1.5,2.0"]
WF = ["--walk-forward", "train=1M,test=2W", "--to", "2019-03-01"]
WF_FILES = ("folds.csv", "grid.csv", "summary.json", "trades.csv", "equity.csv")


def _t(text: str) -> int:
    t = parse_time(text)
    assert t is not None
    return t


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _cli(out: Path, *extra: str, settings: Settings = BUSY) -> int:
    argv = [str(BTC), "--tf", "15m", "--out", str(out), "--no-progress", *extra]
    return run_backtest(argv, settings)


# --- folds and windows ------------------------------------------------------------------


def test_folds_roll_by_the_test_length_in_calendar_units() -> None:
    folds = make_folds(_t("2019-01-31"), _t("2019-06-01"), Period(2, "M"), Period(1, "M"))
    got = [(f.number, f.train_from, f.train_to, f.test_to) for f in folds]
    # month steps keep the day where it exists and clamp to the month's end where not
    assert got == [
        (1, _t("2019-01-31"), _t("2019-03-31"), _t("2019-04-30")),
        (2, _t("2019-02-28"), _t("2019-04-30"), _t("2019-05-31")),
        (3, _t("2019-03-31"), _t("2019-05-31"), _t("2019-06-01")),  # ends with the data
    ]
    assert all(f.test_from == f.train_to for f in folds)
    assert [f.test_to for f in folds[:-1]] == [f.test_from for f in folds[1:]]  # they tile
    weeks = make_folds(_t("2019-01-01"), _t("2019-02-01"), Period(2, "W"), Period(7, "D"))
    assert [f.test_from for f in weeks] == [_t("2019-01-15") + k * 7 * DAY for k in range(3)]
    assert weeks[-1].test_to == _t("2019-02-01")
    assert parse_walk_forward("test=1M, train=6M") == (Period(6, "M"), Period(1, "M"))
    assert first_midnight(_t("2018-12-31T18:30:00")) == _t("2019-01-01")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("train=6M", "both train= and test="),
        ("train=6M,test=1", "count and a unit"),
        ("train=6m,test=1M", r"M \(months\), W \(weeks\) or D \(days\)"),
        ("train=6M,test=1M,step=1M", "write train=LENGTH,test=LENGTH"),
    ],
)
def test_walk_forward_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(FoldError, match=message):
        parse_walk_forward(spec)


def test_window_longer_than_the_data_is_an_error() -> None:
    with pytest.raises(
        FoldError, match=r"needs a 6M train window and test candles after it.*59\.0 days"
    ):
        make_folds(_t("2019-01-01"), _t("2019-03-01"), Period(6, "M"), Period(1, "M"))


def _stream(n: int, start: int = 0) -> Stream:
    t = start + np.arange(n, dtype=np.int64) * 900_000
    x = np.linspace(100.0, 110.0, n)
    return Stream("BTCUSDT", Market.SPOT, "15m", CandleArrays(t, x, x + 1, x - 1, x, x, True))


def test_a_window_carries_warm_up_candles_before_it_and_nothing_after() -> None:
    st = _stream(1000)
    a, b = 500 * 900_000, 700 * 900_000
    w = window_stream(st, a, b, 300)
    assert w is not None
    assert int(w.candles.open_time[0]) == 200 * 900_000  # 300 candles before the window
    assert int(w.candles.open_time[w.warmup]) == a  # decisions from the window's first candle
    assert int(w.candles.open_time[-1]) == b - 900_000  # nothing at or after its end
    # at the file's start the window's own first candles make up the warm-up
    first = window_stream(st, 0, b, 300)
    assert first is not None and first.warmup == 300 and int(first.candles.open_time[0]) == 0
    assert window_stream(st, 2000 * 900_000, 2100 * 900_000, 300) is None


# --- the grid ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("strategy.atr_stop=1,2", r"unknown settings key 'strategy.atr_stop' \(did you mean"),
        ("strategie.atr_stop_mult=1", r"unknown settings section 'strategie' \(did you mean"),
        ("strategy.atr_stop_mult=1,abc", r"atr_stop_mult=abc is not valid: Input should be"),
        ("strategy.ema_fast=20,2.5", r"ema_fast=2.5 is not valid"),
        ("strategy.ema_fast=10,60", "ema_fast < ema_mid < ema_slow is required"),
        ("strategy.atr_stop_mult=1,1.0", "the value 1.0 is given twice"),
        ("strategy.atr_stop_mult", "write section.key=value1,value2"),
        ("venue.name=sim", r"\[venue\] does not change a backtest"),
        ("atr_stop_mult=1", "write section.key"),
    ],
)
def test_grid_errors_name_the_argument(spec: str, message: str) -> None:
    with pytest.raises(GridError, match=message):
        parse_grid([spec], BUSY)


def test_grid_points_are_validated_settings_in_order() -> None:
    axes = parse_grid(
        ["strategy.take_profit_r=[1.5,2],[2,3]", "backtest.intrabar=ohlc,sim"], Settings()
    )
    grid = points(axes)
    assert [p.label() for p in grid] == [
        "strategy.take_profit_r=[1.5,2.0] backtest.intrabar=ohlc",
        "strategy.take_profit_r=[1.5,2.0] backtest.intrabar=sim",
        "strategy.take_profit_r=[2.0,3.0] backtest.intrabar=ohlc",
        "strategy.take_profit_r=[2.0,3.0] backtest.intrabar=sim",
    ]
    s = apply(Settings(), grid[3])
    assert s.strategy.take_profit_r == (2.0, 3.0) and s.backtest.intrabar == "sim"
    # values of one section are checked together: ema_mid 30 is fine alone, not with fast 40
    both = parse_grid(["strategy.ema_fast=40", "strategy.ema_mid=30"], Settings())
    with pytest.raises(GridError, match="ema_fast < ema_mid"):
        apply(Settings(), points(both)[0])
    with pytest.raises(GridError, match="more than once"):
        parse_grid(["strategy.ema_fast=10", "strategy.ema_fast=11"], Settings())


def _figs(**kw: Any) -> dict[str, Any]:
    base = {"trades": 5, "win_rate": 0.4, "return_pct": -1.0, "calmar": None}
    return {**base, **kw}


def test_choice_best_first_undefined_last_ties_to_the_earlier_point() -> None:
    runs = [_figs(sharpe=None, trades=0), _figs(sharpe=1.5), _figs(sharpe=2.0), _figs(sharpe=2.0)]
    assert best(runs, "sharpe") == 2
    assert best([_figs(sharpe=None, trades=0)] * 3, "sharpe") == 0
    # no losing trade: an infinite profit factor beats any finite one
    pf = [_figs(profit_factor=3.0), _figs(profit_factor=None, win_rate=1.0)]
    assert best(pf, "profit_factor") == 1 and rank(pf[1], "profit_factor")[1] == float("inf")
    # Calmar of two losing runs: the smaller loss wins, though its ratio is more negative
    losing = [
        _figs(calmar=-3.4, return_pct=-22.6),
        _figs(calmar=-4.0, return_pct=-9.2),
        _figs(calmar=0.5, return_pct=2.0),
    ]
    assert best(losing, "calmar") == 2 and best(losing[:2], "calmar") == 1


def test_a_run_with_too_few_trades_cannot_win() -> None:
    lucky = _figs(sharpe=9.0, trades=2)  # two winners: the best figure, and no evidence
    steady = _figs(sharpe=0.8, trades=40)
    assert best([lucky, steady], "sharpe") == 0
    assert best([lucky, steady], "sharpe", min_trades=5) == 1
    assert score(lucky, "sharpe", min_trades=5) is None
    assert score(steady, "sharpe", min_trades=40) == 0.8  # the minimum itself is enough
    assert standing([lucky, steady], "sharpe", min_trades=5)[1] == 0.0  # the only ranked one
    # nobody qualifies: the objective is undefined everywhere, the first point is taken
    assert best([lucky, _figs(sharpe=1.0, trades=3)], "sharpe", min_trades=5) == 0


# --- runs on the bundled file -------------------------------------------------------------


def test_walk_forward_files_and_the_same_bytes_on_one_or_two_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert _cli(one, *GRID, *WF, "--workers", "1") == 0
    printed = capsys.readouterr().out
    assert _cli(two, *GRID, *WF, "--workers", "2", "--no-report") == 0
    for name in WF_FILES:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name

    folds = _rows(one / "folds.csv")
    assert [(f["fold"], f["test_from"], f["test_to"]) for f in folds] == [
        ("1", "2019-02-01T00:00:00Z", "2019-02-15T00:00:00Z"),
        ("2", "2019-02-15T00:00:00Z", "2019-03-01T00:00:00Z"),
    ]
    assert folds[0]["train_from"] == "2019-01-01T00:00:00Z"  # first midnight of the file
    grid = _rows(one / "grid.csv")
    assert len(grid) == 2 * 3 and sum(r["chosen"] == "true" for r in grid) == 2
    for f in folds:  # the chosen point is the one marked in grid.csv for its fold
        mine = [r for r in grid if r["fold"] == f["fold"]]
        chosen = next(r for r in mine if r["chosen"] == "true")
        assert chosen["strategy.atr_stop_mult"] == f["strategy.atr_stop_mult"]
        assert chosen["objective"] == f["train_objective"]
    assert folds[1]["test_start_equity_quote"] == folds[0]["test_final_equity_quote"]

    summary = json.loads((one / "summary.json").read_text())
    plain = json.loads((ROOT / "tests" / "golden" / "backtest_btcusdt_2019_2020.json").read_text())
    assert set(plain["summary"]) <= set(summary)  # a plain backtest's keys, and more
    assert summary["candles_per_second"] is None  # nothing from the wall clock
    wf = summary["walk_forward"]
    assert (wf["folds"], wf["grid_points"], wf["objective"]) == (2, 3, "calmar")
    assert wf["min_trades"] == 5  # the default
    assert wf["warmup_candles"] == 300 and wf["train"] == "1M" and wf["test"] == "2W"
    assert summary["final_equity_quote"] == folds[-1]["test_final_equity_quote"]

    trades = _rows(one / "trades.csv")
    assert trades and summary["trades"] == len({t["decision_id"] for t in trades})
    for t in trades:  # every out-of-sample trade lies inside its own fold's test window
        f = folds[int(t["decision_id"][1:4]) - 1]
        assert f["test_from"] <= t["signal_time"] and t["exit_time"] <= f["test_to"]
    equity = _rows(one / "equity.csv")
    assert equity[0]["time"] == "2019-02-01T00:15:00Z"  # the first out-of-sample close
    assert equity[-1]["time"] == "2019-03-01T00:00:00Z"
    assert (one / "walk_forward.png").stat().st_size > 10_000
    html = (one / "report.html").read_text(encoding="utf-8")
    assert "Walk-forward folds" in html and 'src="walk_forward.png"' in html
    assert "2019-02-01 → 2019-02-15" in html
    assert "walk-forward: 2 folds (train 1M, test 2W, 300 warm-up candles)" in printed
    assert "out of sample 2019-02-01 → 2019-03-01" in printed


def _altered(streams: list[Stream], since: int) -> list[Stream]:
    """The same streams with every candle from ``since`` on replaced (prices mirrored)."""
    out = []
    for st in streams:
        c = st.candles
        k = int(np.searchsorted(c.open_time, since, "left"))
        mid = float(c.close[k - 1])
        o, h, lo, cl = (x.copy() for x in (c.open, c.high, c.low, c.close))
        for y, x in ((o, c.open), (h, c.low), (lo, c.high), (cl, c.close)):  # low ↔ high
            y[k:] = 2 * mid - x[k:]
        arr = CandleArrays(c.open_time, o, h, lo, cl, c.volume, True)
        out.append(Stream(st.symbol, st.market, st.tf, arr))
    return out


def test_a_test_fold_never_sees_its_own_optimisation() -> None:
    """Fold 1's choice reads only its train window: mirroring every price from its test
    window on changes its test run, not one figure of its train runs."""
    streams = load_streams([BTC], "15m", BUSY, end=_t("2019-03-01"))
    grid = points(parse_grid(GRID[1:], BUSY))
    folds = make_folds(_t("2019-01-01"), _t("2019-03-01"), Period(1, "M"), Period(2, "W"))

    def run(st: list[Stream]) -> Any:
        return walk_forward(Job(st, BUSY, [], grid, "calmar", 300, 2), folds).folds[0]

    before = run(streams)
    after = run(_altered(streams, folds[0].test_from))
    assert after.train == before.train and after.chosen == before.chosen
    assert after.test.figures != before.test.figures  # the test window did change
    # and the train runs do read their own window: altering it changes them
    inside = run(_altered(streams, folds[0].train_to - 7 * DAY))
    assert inside.train != before.train


def test_walk_forward_skips_points_with_too_few_train_trades(tmp_path: Path) -> None:
    assert _cli(tmp_path / "all", *GRID, *WF, "--no-report") == 0
    assert _cli(tmp_path / "min", *GRID, *WF, "--no-report", "--min-trades", "30") == 0
    before = {r["fold"]: r for r in _rows(tmp_path / "all" / "grid.csv") if r["chosen"] == "true"}
    grid = _rows(tmp_path / "min" / "grid.csv")
    few = [r for r in grid if int(r["trades"]) < 30]
    assert few, "the stop at 2 ATR trades less than 30 times a month"
    assert all(r["objective"] == "" and r["chosen"] == "false" for r in few)
    # the point chosen without a minimum had fewer trades: the choice moves to another
    assert any(int(before[r["fold"]]["trades"]) < 30 for r in grid if r["chosen"] == "true")
    assert all(int(r["trades"]) >= 30 for r in grid if r["chosen"] == "true")
    summary = json.loads((tmp_path / "min" / "summary.json").read_text())
    assert summary["walk_forward"]["min_trades"] == 30


def test_sweep_row_is_the_plain_backtest_of_its_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    span = ["--from", "2019-01-01", "--to", "2019-02-01", "--warmup", "300"]
    assert _cli(tmp_path / "grid", *GRID, *span, "--objective", "expectancy_r") == 0
    printed = capsys.readouterr().out
    rows = _rows(tmp_path / "grid" / "grid.csv")
    assert [r["strategy.atr_stop_mult"] for r in rows] == ["1.0", "1.5", "2.0"]
    assert sum(r["best"] == "true" for r in rows) == 1
    assert (tmp_path / "grid" / "grid.png").stat().st_size > 5_000
    assert "best by expectancy_r: strategy.atr_stop_mult=" in printed
    s = BUSY.model_copy(
        update={"strategy": BUSY.strategy.model_copy(update={"atr_stop_mult": 1.5})}
    )
    assert _cli(tmp_path / "plain", *span, "--no-report", settings=s) == 0
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())
    row = rows[1]
    for key in ("trades", "win_rate", "profit_factor", "expectancy_r", "calmar", "sharpe"):
        assert row[key] == ("" if plain[key] is None else str(plain[key])), key
    assert row["objective"] == row["expectancy_r"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "strategy.atr_stop=1,2"], "unknown settings key 'strategy.atr_stop'"),
        (["--grid", "strategy.atr_stop_mult=x"], "atr_stop_mult=x is not valid"),
        (
            ["--grid", "strategy.atr_stop_mult=1", "--walk-forward", "train=6M,test=1M"]
            + ["--from", "2019-01-01", "--to", "2019-03-01"],
            "needs a 6M train window and test candles after it",
        ),
        (["--walk-forward", "train=6M"], "both train= and test="),
        (["--objective", "sharpe"], "need --grid or --walk-forward"),
        (["--min-trades", "3"], "need --grid or --walk-forward"),
        (["--grid", "strategy.atr_stop_mult=1", "--min-trades", "-1"], "--min-trades -1"),
        (["--grid", "strategy.atr_stop_mult=1", "--workers", "0"], "--workers 0: at least 1"),
    ],
)
def test_cli_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert _cli(tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "folds.csv").exists()
