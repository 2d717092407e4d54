"""ATR-scaled ZigZag swings of the causal SMC engine on real BTCUSDT candles: the definition,
Wilder ATR equal to TA-Lib, no lookahead, streaming == batch and settings validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.smc import layout as L
from engine.smc.engine import SmcEngine, SmcParams, SmcState, run_smc_batch
from greenlight.core.candlefile import CandleArrays, read_candles

ROOT = Path(__file__).resolve().parents[2]
MULT = 3.0
PARAMS = SmcParams(swing_method="zigzag", zigzag_atr_mult=MULT)
N_CANDLES = 20_000


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz").slice(0, N_CANDLES)


@pytest.fixture(scope="module")
def full(btc: CandleArrays) -> np.ndarray:
    events: np.ndarray = run_smc_batch(btc, PARAMS)[0]
    return events


def swings(ev: np.ndarray) -> np.ndarray:
    rows: np.ndarray = ev[ev[:, L.EV_TYPE] == L.T_SWING]
    return rows


def test_swings_alternate_and_are_leg_extremes(btc: CandleArrays, full: np.ndarray) -> None:
    sw = swings(full)
    assert len(sw) > 500
    d = sw[:, L.EV_DIR]
    assert (d[1:] == -d[:-1]).all()  # high, low, high, ... strictly alternating
    index = {int(t): i for i, t in enumerate(btc.open_time)}
    pivots = np.array([index[int(t)] for t in sw[:, L.EV_REF_TIME]])
    known = sw[:, L.EV_BAR].astype(int)
    assert (pivots < known).all()  # the pivot is always an earlier candle
    assert (np.diff(pivots) > 0).all()
    for j in range(1, len(sw)):
        # a leg runs from the previous confirmation (the first one: from the first pivot)
        lo_bar, hi_bar = (known[j - 1] if j > 1 else pivots[0] + 1), known[j]
        series = btc.high if d[j] > 0 else -btc.low
        price = sw[j, L.EV_A] * (1 if d[j] > 0 else -1)
        assert price == series[lo_bar:hi_bar].max(), j
        assert series[pivots[j]] == price


def test_reversal_distance_is_mult_atr_talib(btc: CandleArrays, full: np.ndarray) -> None:
    atr = talib.ATR(btc.high, btc.low, btc.close, timeperiod=14)
    sw = swings(full)
    k = sw[:, L.EV_BAR].astype(int)
    up = sw[:, L.EV_DIR] > 0
    # a swing high is confirmed by a low at least MULT × ATR below it (mirrored for lows)
    assert (btc.low[k[up]] <= sw[up, L.EV_A] - MULT * atr[k[up]] + 1e-9).all()
    assert (btc.high[k[~up]] >= sw[~up, L.EV_A] + MULT * atr[k[~up]] - 1e-9).all()
    # ... and not earlier: no candle between the last extreme and the confirmation reversed
    index = {int(t): i for i, t in enumerate(btc.open_time)}
    for j in range(2, 300):  # from the second leg (the first one starts differently)
        p = index[int(sw[j, L.EV_REF_TIME])]
        between = range(p + 1, k[j])
        if up[j]:
            assert all(btc.low[i] > sw[j, L.EV_A] - MULT * atr[i] for i in between)
        else:
            assert all(btc.high[i] < sw[j, L.EV_A] + MULT * atr[i] for i in between)


def test_engine_atr_equals_talib(btc: CandleArrays) -> None:
    atr = talib.ATR(btc.high, btc.low, btc.close, timeperiod=14)
    eng = SmcEngine(PARAMS)
    ours = []
    for i in range(300):
        eng.update(int(btc.open_time[i]), btc.open[i], btc.high[i], btc.low[i], btc.close[i])
        ours.append(eng.state.floats[L.F_ATR])
    np.testing.assert_allclose(np.array(ours), atr[:300], rtol=1e-12, equal_nan=True)


def test_structure_uses_zigzag_swings(full: np.ndarray) -> None:
    sw = swings(full)
    breaks = full[np.isin(full[:, L.EV_TYPE], [L.T_BOS, L.T_CHOCH])]
    assert len(breaks) > 100
    for row in breaks[:300]:
        same = sw[(sw[:, L.EV_DIR] == row[L.EV_DIR]) & (sw[:, L.EV_BAR] <= row[L.EV_BAR])]
        assert row[L.EV_REF_TIME] == same[-1, L.EV_REF_TIME]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1, max_value=N_CANDLES - 1))
def test_no_lookahead_prefix_equals_full_run(btc: CandleArrays, full: np.ndarray, cut: int) -> None:
    prefix, _ = run_smc_batch(btc.slice(0, cut), PARAMS)
    assert np.array_equal(prefix, full[full[:, L.EV_BAR] < cut])


def test_streaming_equals_batch_across_a_restore(btc: CandleArrays, full: np.ndarray) -> None:
    n = 5000
    eng = SmcEngine(PARAMS)
    rows = []
    for i in range(n):
        if i == 2500:
            eng = SmcEngine(PARAMS, state=SmcState.from_bytes(eng.state.to_bytes()))
        rows.append(
            eng.update(int(btc.open_time[i]), btc.open[i], btc.high[i], btc.low[i], btc.close[i])
        )
    assert np.array_equal(np.concatenate(rows), full[full[:, L.EV_BAR] < n])


def test_pivot_and_zigzag_differ_and_params_are_checked(btc: CandleArrays) -> None:
    pivot, _ = run_smc_batch(btc.slice(0, 3000), SmcParams())
    zz, _ = run_smc_batch(btc.slice(0, 3000), PARAMS)
    assert len(swings(pivot)) > 2 * len(swings(zz)) > 0
    with pytest.raises(ValueError, match="zigzag_atr_mult"):
        SmcParams(swing_method="zigzag", zigzag_atr_mult=0.0)
    with pytest.raises(ValueError, match="swing_method"):
        SmcParams(swing_method="fractal")  # type: ignore[arg-type]
