"""Regime stage on real candles: causal percentiles checked by brute force, thresholds,
no lookahead, streaming == batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.features import compute_batch
from engine.regime import kernel as K
from engine.regime.classifier import (
    RegimeClassifier,
    RegimeParams,
    RegimeState,
    regime_changes,
    run_regime_batch,
)
from greenlight.core.candlefile import read_candles

ROOT = Path(__file__).resolve().parents[2]
PARAMS = RegimeParams(window=300, min_periods=50)


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    c = read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz").slice(0, 12_000)
    f = compute_batch(c)
    return {"adx": f["adx14"], "atr": f["atr14"], "close": c.close, "bbw": f["bb_width"]}


def batch(x: dict[str, np.ndarray], n: int | None = None) -> np.ndarray:
    s = slice(0, n)
    out, _ = run_regime_batch(x["adx"][s], x["atr"][s], x["close"][s], x["bbw"][s], PARAMS)
    return out


def test_percentiles_and_labels_match_brute_force(inputs: dict[str, np.ndarray]) -> None:
    out = batch(inputs)
    natr = inputs["atr"] / inputs["close"]
    valid = np.isfinite(natr) & np.isfinite(inputs["bbw"]) & np.isfinite(inputs["adx"])
    seen = np.flatnonzero(valid)
    for i in range(0, len(out), 97):
        if not valid[i]:
            assert out[i, K.O_REGIME] == K.UNKNOWN
            continue
        window = seen[seen <= i][-PARAMS.window :]
        if len(window) < PARAMS.min_periods:
            assert out[i, K.O_REGIME] == K.UNKNOWN
            continue
        atr_pct = np.mean(natr[window] <= natr[i])
        bbw_pct = np.mean(inputs["bbw"][window] <= inputs["bbw"][i])
        assert out[i, K.O_ATR_PCT] == pytest.approx(atr_pct)
        assert out[i, K.O_BBW_PCT] == pytest.approx(bbw_pct)
        if atr_pct >= PARAMS.shock_pct:
            want = K.SHOCK
        elif inputs["adx"][i] >= PARAMS.adx_trend and bbw_pct >= PARAMS.trend_bbw_pct:
            want = K.TREND
        else:
            want = K.RANGE
        assert out[i, K.O_REGIME] == want
    counts = np.bincount(out[:, K.O_REGIME].astype(int), minlength=4)
    assert (counts[1:] > 100).all()  # all three regimes occur on real data


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1, max_value=11_999))
def test_no_lookahead(inputs: dict[str, np.ndarray], cut: int) -> None:
    assert np.array_equal(batch(inputs, cut), batch(inputs)[:cut], equal_nan=True)


def test_streaming_equals_batch(inputs: dict[str, np.ndarray]) -> None:
    clf = RegimeClassifier(PARAMS)
    rows = []
    for i in range(3000):
        if i == 1500:  # persist and restore mid-stream
            clf = RegimeClassifier(PARAMS, RegimeState.from_bytes(clf.state.to_bytes()))
        rows.append(
            clf.update(inputs["adx"][i], inputs["atr"][i], inputs["close"][i], inputs["bbw"][i])
        )
    got = np.array(rows)
    assert np.array_equal(got, batch(inputs, 3000), equal_nan=True)
    changes = regime_changes(got)
    assert changes.size > 10
    assert (got[changes, K.O_REGIME] != got[changes - 1, K.O_REGIME]).all()


def test_bad_params_rejected() -> None:
    with pytest.raises(ValueError, match="min_periods"):
        RegimeParams(window=10, min_periods=20)
    with pytest.raises(ValueError, match="percentiles"):
        RegimeParams(shock_pct=1.5)
