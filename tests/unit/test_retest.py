"""Retest analyzer on real candles: signal shape and rule, streaming == batch, no lookahead,
micro-BOS from a real 5m sub-stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.features import compute_batch
from engine.retest import kernel as K
from engine.retest.analyzer import (
    RetestAnalyzer,
    RetestParams,
    RetestState,
    run_retest_batch,
    to_signal,
)
from engine.retest.micro import micro_bos_flags
from engine.smc import layout as L
from engine.smc.engine import SmcEngine, SmcParams, run_smc_batch
from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.contracts import SignalRaw

ROOT = Path(__file__).resolve().parents[2]
PARAMS = RetestParams()


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz").slice(0, 20_000)


@pytest.fixture(scope="module")
def feats(btc: CandleArrays) -> dict[str, np.ndarray]:
    return compute_batch(btc)


@pytest.fixture(scope="module")
def events(btc: CandleArrays) -> np.ndarray:
    return run_smc_batch(btc, SmcParams())[0]


def run(
    btc: CandleArrays,
    feats: dict[str, np.ndarray],
    events: np.ndarray,
    params: RetestParams = PARAMS,
) -> np.ndarray:
    out, _ = run_retest_batch(
        events,
        btc.open,
        btc.high,
        btc.low,
        btc.close,
        feats["atr14"],
        feats["rsi14"],
        feats["macd_hist"],
        params,
    )
    return out


def test_signals_follow_the_rule(
    btc: CandleArrays, feats: dict[str, np.ndarray], events: np.ndarray
) -> None:
    out = run(btc, feats, events)
    idx = np.flatnonzero(out[:, K.O_DIR] != 0)
    assert len(idx) > 20
    bos = events[events[:, L.EV_TYPE] == L.T_BOS]
    for i in idx:
        row, d = out[i], out[i, K.O_DIR]
        assert row[K.O_ENTRY] == btc.close[i]
        assert (row[K.O_SL] < row[K.O_ENTRY]) if d > 0 else (row[K.O_SL] > row[K.O_ENTRY])
        far = row[K.O_BOTTOM] if d > 0 else row[K.O_TOP]
        assert row[K.O_SL] == pytest.approx(far - d * PARAMS.sl_atr * feats["atr14"][i])
        prior = bos[(bos[:, L.EV_DIR] == d) & (bos[:, L.EV_BAR] < i)]
        assert i - prior[-1, L.EV_BAR] <= PARAMS.wait_bars
        assert row[K.O_BOS_TIME] == prior[-1, L.EV_TIME]
        hist, rsi = feats["macd_hist"], feats["rsi14"]
        assert (hist[i] - hist[i - 1]) * d > 0 and (rsi[i] - rsi[i - 1]) * d > 0
        lo, hi = (40, 55) if d > 0 else (45, 60)
        assert lo <= rsi[i - 1] <= hi
        assert (btc.close[i] - btc.open[i]) * d > 0  # no sub-stream: close confirms


def test_signal_contract(
    btc: CandleArrays, feats: dict[str, np.ndarray], events: np.ndarray
) -> None:
    out = run(btc, feats, events)
    i = int(np.flatnonzero(out[:, K.O_DIR] != 0)[0])
    sig = to_signal(out[i], PARAMS, "sim", "BTCUSDT", "15m", int(btc.open_time[i]))
    again = SignalRaw.model_validate_json(sig.model_dump_json(by_alias=True))
    assert again == sig
    assert sig.tpR == (1.5, 2.0, 3.0) and 0 <= sig.score <= 1 and sig.ttl_bars == 4
    assert sig.features["close_confirm"] and sig.features["rsi_bounce"]


def test_momentum_requirement_only_removes_signals(
    btc: CandleArrays, feats: dict[str, np.ndarray], events: np.ndarray
) -> None:
    strict = run(btc, feats, events)
    loose = run(btc, feats, events, RetestParams(require_momentum=False))
    assert (loose[:, K.O_DIR] != 0).sum() > (strict[:, K.O_DIR] != 0).sum()


def test_streaming_equals_batch(
    btc: CandleArrays, feats: dict[str, np.ndarray], events: np.ndarray
) -> None:
    n = 8000
    smc = SmcEngine(SmcParams())
    rt = RetestAnalyzer(PARAMS)
    got = np.zeros((n, K.O_COLS))
    for i in range(n):
        if i == 4000:  # persist and restore mid-stream
            rt = RetestAnalyzer(PARAMS, RetestState.from_bytes(rt.state.to_bytes()))
        ev = smc.update(
            int(btc.open_time[i]), btc.open[i], btc.high[i], btc.low[i], btc.close[i], btc.volume[i]
        )
        row = rt.update(
            ev,
            btc.open[i],
            btc.high[i],
            btc.low[i],
            btc.close[i],
            feats["atr14"][i],
            feats["rsi14"][i],
            feats["macd_hist"][i],
        )
        if row is not None:
            got[i] = row
    want = run(btc, feats, events)[:n]
    fired = want[:, K.O_DIR] != 0
    assert fired.sum() > 5
    assert np.array_equal(got[fired], want[fired]) and not got[~fired, K.O_DIR].any()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1, max_value=19_999))
def test_no_lookahead(
    btc: CandleArrays, feats: dict[str, np.ndarray], events: np.ndarray, cut: int
) -> None:
    full = run(btc, feats, events)
    part = btc.slice(0, cut)
    pev = run_smc_batch(part, SmcParams())[0]
    pf = {k: v[:cut] for k, v in feats.items()}
    assert np.array_equal(run(part, pf, pev), full[:cut], equal_nan=True)


def test_micro_bos_from_real_5m_stream() -> None:
    sub = read_candles(ROOT / "data/XRPUSDT-perp-5m-futures.csv").slice(0, 1998)
    k = 3  # resample upward: 5m -> 15m
    parent = CandleArrays(
        sub.open_time[::k],
        sub.open[::k],
        sub.high.reshape(-1, k).max(1),
        sub.low.reshape(-1, k).min(1),
        sub.close[k - 1 :: k],
        sub.volume.reshape(-1, k).sum(1),
        True,
    )
    up, dn = micro_bos_flags(parent.open_time, 900_000, sub, SmcParams(swing_length=2))
    ev = run_smc_batch(sub, SmcParams(swing_length=2))[0]
    brk = ev[np.isin(ev[:, L.EV_TYPE], [L.T_BOS, L.T_CHOCH])]
    want_up = np.zeros(len(parent), bool)
    want_up[(brk[brk[:, L.EV_DIR] > 0, L.EV_BAR] // k).astype(int)] = True
    assert up.sum() > 10 and np.array_equal(up, want_up)
    assert dn.sum() > 10 and not (up & dn).all()
    f = compute_batch(parent)
    pev = run_smc_batch(parent, SmcParams())[0]
    loose = RetestParams(require_momentum=False)
    ohlc = (parent.open, parent.high, parent.low, parent.close)
    inputs = (pev, *ohlc, f["atr14"], f["rsi14"], f["macd_hist"], loose)
    base, _ = run_retest_batch(*inputs)
    with_micro, _ = run_retest_batch(*inputs, up, dn)
    bits = with_micro[with_micro[:, K.O_DIR] != 0, K.O_FEATURES].astype(int)
    assert (with_micro[:, K.O_DIR] != 0).sum() >= (base[:, K.O_DIR] != 0).sum()
    assert (bits & K.F_MICRO).any()


def test_bad_params_rejected() -> None:
    with pytest.raises(ValueError, match="rsi_lo"):
        RetestParams(rsi_lo=60, rsi_hi=50)
    with pytest.raises(ValueError, match="tp_r"):
        RetestParams(tp_r=(1.0, -2.0))
