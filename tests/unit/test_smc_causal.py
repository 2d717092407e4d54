"""Causal SMC engine on real BTCUSDT candles: definitions, no lookahead, streaming == batch,
state persistence and bad-data rejection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.smc import layout as L
from engine.smc.engine import (
    BadCandleError,
    CandleGapError,
    SmcEngine,
    SmcParams,
    SmcState,
    run_smc_batch,
)
from greenlight.core.candlefile import CandleArrays, read_candles

ROOT = Path(__file__).resolve().parents[2]
N = 5
PARAMS = SmcParams(swing_length=N)


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz")


@pytest.fixture(scope="module")
def full(btc: CandleArrays) -> np.ndarray:
    events: np.ndarray = run_smc_batch(btc, PARAMS)[0]
    return events


def of_type(ev: np.ndarray, typ: int) -> np.ndarray:
    rows: np.ndarray = ev[ev[:, L.EV_TYPE] == typ]
    return rows


def test_swings_are_n_bar_pivots_known_n_bars_later(btc: CandleArrays, full: np.ndarray) -> None:
    sw = of_type(full, L.T_SWING)
    assert len(sw) > 5000
    index = {int(t): i for i, t in enumerate(btc.open_time)}
    for row in sw[:2000]:
        p = index[int(row[L.EV_REF_TIME])]
        assert int(row[L.EV_BAR]) == p + N
        assert row[L.EV_TIME] == btc.open_time[p + N]
        series = btc.high if row[L.EV_DIR] > 0 else -btc.low
        v = series[p]
        assert row[L.EV_A] == (btc.high[p] if row[L.EV_DIR] > 0 else btc.low[p])
        assert v > series[p - N : p].max() and v >= series[p + 1 : p + N + 1].max()
    highs = sw[sw[:, L.EV_DIR] > 0]
    labels = highs[1:, L.EV_B]
    rising = highs[1:, L.EV_A] > highs[:-1, L.EV_A]
    assert np.array_equal(labels == L.LABEL_HH, rising)
    assert np.array_equal(labels == L.LABEL_LH, ~rising)


def test_structure_breaks_are_first_closes_beyond_the_latest_swing(
    btc: CandleArrays, full: np.ndarray
) -> None:
    sw = of_type(full, L.T_SWING)
    breaks = full[np.isin(full[:, L.EV_TYPE], [L.T_BOS, L.T_CHOCH])]
    assert len(breaks) > 1000
    trend = 0
    for row in breaks:
        i, d = int(row[L.EV_BAR]), row[L.EV_DIR]
        known = sw[(sw[:, L.EV_DIR] == d) & (sw[:, L.EV_BAR] <= i)]
        ref = known[-1]  # the latest swing of that side known at the break
        assert row[L.EV_REF_TIME] == ref[L.EV_REF_TIME] and row[L.EV_A] == ref[L.EV_A]
        closes = btc.close[int(ref[L.EV_BAR]) : i + 1] * d
        assert closes[-1] > ref[L.EV_A] * d
        assert not (closes[:-1] > ref[L.EV_A] * d).any()
        expected = L.T_CHOCH if trend == -d else L.T_BOS
        assert row[L.EV_TYPE] == expected
        trend = int(d)


def test_fvgs_follow_the_three_candle_rule(btc: CandleArrays, full: np.ndarray) -> None:
    new = of_type(full, L.T_ZONE_NEW)
    fvg = new[new[:, L.EV_KIND] == L.KIND_FVG]
    i = fvg[:, L.EV_BAR].astype(int)
    up = fvg[:, L.EV_DIR] > 0
    h2, l2, h0, l0 = btc.high[i - 2], btc.low[i - 2], btc.high[i], btc.low[i]
    assert np.array_equal(fvg[up, L.EV_A], l0[up]) and np.array_equal(fvg[up, L.EV_B], h2[up])
    assert np.array_equal(fvg[~up, L.EV_A], l2[~up])
    assert np.array_equal(fvg[~up, L.EV_B], h0[~up])
    bull_gaps = np.flatnonzero(btc.high[:-2] < btc.low[2:]) + 2
    assert np.array_equal(np.sort(i[up]), bull_gaps)


def test_zone_lifecycle_events_are_consistent(btc: CandleArrays, full: np.ndarray) -> None:
    ended = full[np.isin(full[:, L.EV_TYPE], [L.T_ZONE_MITIGATED, L.T_ZONE_EXPIRED])]
    assert len(np.unique(ended[:, L.EV_ZONE])) == len(ended)  # a zone ends once
    mit = ended[(ended[:, L.EV_TYPE] == L.T_ZONE_MITIGATED) & (ended[:, L.EV_KIND] == L.KIND_FVG)]
    i = mit[:, L.EV_BAR].astype(int)
    up = mit[:, L.EV_DIR] > 0
    assert (btc.low[i[up]] <= mit[up, L.EV_B]).all()
    assert (btc.high[i[~up]] >= mit[~up, L.EV_A]).all()
    obs = of_type(full, L.T_ZONE_NEW)
    obs = obs[obs[:, L.EV_KIND] == L.KIND_OB]
    assert len(obs) > 500 and (obs[:, L.EV_A] >= obs[:, L.EV_B]).all()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1, max_value=69_975))
def test_no_lookahead_prefix_equals_full_run(btc: CandleArrays, full: np.ndarray, cut: int) -> None:
    prefix, _ = run_smc_batch(btc.slice(0, cut), PARAMS)
    assert np.array_equal(prefix, full[full[:, L.EV_BAR] < cut])


def test_streaming_equals_batch_and_state_resumes(btc: CandleArrays, full: np.ndarray) -> None:
    n = 6000
    eng = SmcEngine(PARAMS)
    rows = []
    for i in range(n):
        if i == 3000:  # persist and restore mid-stream
            eng = SmcEngine(PARAMS, state=SmcState.from_bytes(eng.state.to_bytes()))
        rows.append(
            eng.update(
                int(btc.open_time[i]),
                btc.open[i],
                btc.high[i],
                btc.low[i],
                btc.close[i],
                btc.volume[i],
            )
        )
    assert np.array_equal(np.concatenate(rows), full[full[:, L.EV_BAR] < n])
    first, state = run_smc_batch(btc.slice(0, 2500), PARAMS)
    rest, _ = run_smc_batch(btc.slice(2500, n), PARAMS, state=state)
    assert np.array_equal(np.concatenate([first, rest]), full[full[:, L.EV_BAR] < n])


@pytest.mark.parametrize(
    ("candle", "match"),
    [
        ((float("nan"), 10.0, 9.0, 9.5), "non-finite"),
        ((9.5, 9.0, 10.0, 9.5), "high/low"),
        ((0.0, 10.0, 9.0, 9.5), "non-positive"),
    ],
)
def test_bad_candles_rejected_and_state_unchanged(
    btc: CandleArrays, candle: tuple[float, float, float, float], match: str
) -> None:
    eng = SmcEngine(PARAMS, tf_ms=900_000)
    for i in range(50):
        eng.update(int(btc.open_time[i]), btc.open[i], btc.high[i], btc.low[i], btc.close[i])
    before = eng.state.to_bytes()
    t = int(btc.open_time[50])
    with pytest.raises(BadCandleError, match=f"candle {t}.*{match}"):
        eng.update(t, *candle)
    with pytest.raises(BadCandleError, match="duplicate or out of order"):
        eng.update(int(btc.open_time[49]), btc.open[49], btc.high[49], btc.low[49], btc.close[49])
    with pytest.raises(CandleGapError, match=f"candle {t + 900_000}: gap"):
        eng.update(t + 900_000, btc.open[50], btc.high[50], btc.low[50], btc.close[50])
    assert eng.state.to_bytes() == before


def test_batch_reports_the_first_gap_of_the_real_file(btc: CandleArrays) -> None:
    with pytest.raises(CandleGapError, match="candle 1552377600000"):
        run_smc_batch(btc, PARAMS, tf_ms=900_000)
    dup = btc.slice(0, 10)
    times = dup.open_time.copy()
    times[5] = times[4]
    bad = CandleArrays(times, dup.open, dup.high, dup.low, dup.close, dup.volume, True)
    with pytest.raises(BadCandleError, match="row 5 .*duplicate"):
        run_smc_batch(bad, PARAMS)
