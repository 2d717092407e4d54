"""Sub-timeframes: interval planning and causal aggregation of base updates into coarse
candles, checked against a pandas resample of the same real rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenlight.core.candlefile import read_candles
from sim.replay.intervals import Aggregator, plan_intervals, scaled_pacing
from sim.replay.player import KlineUpdate, Replay
from tests.integration.sim_support import pandas_15m

XRP = Path(__file__).resolve().parents[2] / "data" / "XRPUSDT-perp-5m-futures.csv"
M5, M15 = 300_000, 900_000


def test_plan_picks_the_finest_interval_the_files_allow() -> None:
    assert plan_intervals({"XRPUSDT": M5}, "15m", ("5m",)) == ("5m", "15m")
    assert plan_intervals({"XRPUSDT": M5}, "15m", ()) == ("15m",)
    assert plan_intervals({"BTCUSDT": M15}, "15m", ("5m",)) == ("15m",)
    assert plan_intervals({"A": M5, "B": M15}, "15m", ("5m",)) == ("15m",)
    assert plan_intervals({"XRPUSDT": M5}, "15m", ("5m", "1h")) == ("5m", "15m", "1h")
    assert plan_intervals({"BTCUSDT": 3_600_000}, "15m", ("5m",)) == ("15m",)


def test_pacing_keeps_historical_speed() -> None:
    assert scaled_pacing("15m", "5m", 2.0, 600, 10) == (6.0, 1800, 30)
    assert scaled_pacing("15m", "15m", 2.0, 600, None) == (2.0, 600, None)


@pytest.mark.parametrize("history", [999, 1000, 1001])  # aligned and mid-bucket starts
def test_aggregation_equals_pandas_resample_and_closes_after_its_fine_candles(
    history: int,
) -> None:
    a = read_candles(XRP)
    replay = Replay({"XRPUSDT": a}, M5, history_candles=history, updates_per_candle=2)
    agg = Aggregator(M15, M5, {"XRPUSDT": a})
    agg.attach(replay)
    log: list[tuple[str, KlineUpdate]] = []
    for _ in range(60 * 3):  # 60 fine candles, 3 updates each
        for u in replay.step():
            log.append(("5m", u))
            log.extend(("15m", c) for c in agg.feed(u))
    expected = pandas_15m(a)
    coarse_closed = [u for i, u in log if i == "15m" and u.closed]
    assert len(coarse_closed) >= 19
    for u in coarse_closed:
        row = expected.loc[u.open_time]
        got = (u.open, u.high, u.low, u.close)
        assert got == (row.open, row.high, row.low, row.close)
        assert u.volume == pytest.approx(row.volume, rel=1e-12)
        assert u.close_time == u.open_time + M15 - 1
    for n, (interval, u) in enumerate(log):
        if interval == "15m" and u.closed:
            prev_interval, prev = log[n - 1]
            assert prev_interval == "5m" and prev.closed
            assert prev.open_time == u.open_time + M15 - M5
    for interval, u in log:  # in-progress coarse candles never look ahead of the fine one
        if interval == "15m" and not u.closed:
            start = int(u.open_time)
            row = expected.loc[start]
            assert u.open == row.open and u.high <= row.high and u.low >= row.low


def test_visible_coarse_rows_end_with_the_last_closed_fine_candle() -> None:
    a = read_candles(XRP)
    replay = Replay({"XRPUSDT": a}, M5, history_candles=1000, updates_per_candle=0)
    agg = Aggregator(M15, M5, {"XRPUSDT": a})
    agg.attach(replay)
    for _ in range(4):  # fine rows 1000..1003 close; the bucket of 1002 is in progress
        for u in replay.step():
            agg.feed(u)
    lo, hi = agg.visible_range("XRPUSDT")
    rows = agg.rows["XRPUSDT"].open_time
    _, fine_hi = replay.visible_range("XRPUSDT")
    fine_end = int(a.open_time[fine_hi - 1]) + M5
    assert lo == 0 and int(rows[hi - 1]) + M15 <= fine_end < int(rows[hi]) + M15 + M15
    assert agg.in_progress["XRPUSDT"].open_time == int(rows[hi])
