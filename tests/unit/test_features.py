"""Feature batch values against TA-Lib, the VWAP reference file and plain numpy, on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from engine.features import FeatureParams, compute_batch
from greenlight.core.candlefile import CandleArrays
from greenlight.core.settings import StrategySettings
from tests.candle_files import DIR_1H, load_1h, load_15m

ROOT = Path(__file__).resolve().parents[2]
RTOL = 1e-9

Arr = npt.NDArray[np.float64]


def assert_matches(name: str, ours: Arr, ref: Arr, rtol: float = RTOL) -> None:
    """Same NaN positions, then every defined value within ``rtol`` relative."""
    assert ours.dtype == np.float64, name
    nan_ours, nan_ref = np.isnan(ours), np.isnan(ref)
    if not np.array_equal(nan_ours, nan_ref):
        first = int(np.flatnonzero(nan_ours != nan_ref)[0])
        pytest.fail(f"{name}: NaN mismatch at row {first}: ours={ours[first]} ref={ref[first]}")
    ok = ~nan_ref
    assert ok.any(), name
    err = np.abs(ours[ok] - ref[ok])
    limit = rtol * np.abs(ref[ok])
    if (err > limit).any():
        i = int(np.argmax(err - limit))
        pytest.fail(f"{name}: row {np.flatnonzero(ok)[i]} ours={ours[ok][i]!r} ref={ref[ok][i]!r}")


def talib_reference(c: CandleArrays, p: FeatureParams) -> dict[str, Arr]:
    """The TA-Lib values for every feature TA-Lib has, keyed by our names."""
    h, lo, cl = c.high, c.low, c.close
    names = p.names()
    ref: dict[str, Arr] = {f"ema{n}": talib.EMA(cl, n) for n in p.ema}
    ref[names[3]] = talib.RSI(cl, p.rsi)
    ref["macd"], ref["macd_signal"], ref["macd_hist"] = talib.MACD(cl, *p.macd)
    ref[names[7]] = talib.ATR(h, lo, cl, p.atr)
    upper, middle, lower = talib.BBANDS(cl, p.bb, p.bb_k, p.bb_k)  # matype 0 (SMA)
    ref["bb_upper"], ref["bb_middle"], ref["bb_lower"] = upper, middle, lower
    ref["bb_width"] = (upper - lower) / middle
    ref[names[14]] = talib.ADX(h, lo, cl, p.adx)
    ref[names[15]] = talib.PLUS_DI(h, lo, cl, p.adx)
    ref[names[16]] = talib.MINUS_DI(h, lo, cl, p.adx)
    return ref


@pytest.mark.parametrize("which", ["15m", "1h"])
def test_every_talib_indicator_matches_talib(which: str) -> None:
    c = load_15m() if which == "15m" else load_1h()
    p = FeatureParams()
    ours = compute_batch(c, p)
    assert list(ours) == list(p.names())
    assert all(a.shape == (len(c),) for a in ours.values())
    ref = talib_reference(c, p)
    assert len(ref) == 15
    for name, expected in ref.items():
        assert_matches(name, ours[name], expected)


def test_first_defined_index_of_each_series() -> None:
    ours = compute_batch(load_1h())
    first = {name: int(np.flatnonzero(~np.isnan(a))[0]) for name, a in ours.items()}
    assert first == {
        "ema20": 19,
        "ema50": 49,
        "ema200": 199,
        "rsi14": 14,
        "macd": 33,
        "macd_signal": 33,
        "macd_hist": 33,
        "atr14": 14,
        "bb_upper": 19,
        "bb_middle": 19,
        "bb_lower": 19,
        "bb_width": 19,
        "vwap": 0,
        "vwma20": 19,
        "adx14": 27,
        "plus_di14": 14,
        "minus_di14": 14,
    }


def test_other_periods_from_settings_match_talib() -> None:
    s = StrategySettings(
        ema_fast=9,
        ema_mid=21,
        ema_slow=55,
        rsi_period=7,
        macd_fast=5,
        macd_slow=35,
        macd_signal=5,
        atr_period=10,
    )
    p = FeatureParams.from_settings(s)
    assert (p.ema, p.rsi, p.macd, p.atr) == ((9, 21, 55), 7, (5, 35, 5), 10)
    p = FeatureParams(p.ema, p.rsi, p.macd, p.atr, bb=10, bb_k=1.5, vwma=5, adx=9)
    c = load_15m().slice(0, 5000)
    ours = compute_batch(c, p)
    for name, expected in talib_reference(c, p).items():
        assert_matches(name, ours[name], expected)


def test_vwap_matches_reference_file_with_daily_reset() -> None:
    c = load_1h()
    ref = np.loadtxt(DIR_1H / "vwap-day-hlc3.csv", delimiter=",", skiprows=1)
    assert np.array_equal(ref[:, 0].astype(np.int64) // 1000, c.open_time)
    vwap = compute_batch(c)["vwap"]
    assert_matches("vwap", vwap, ref[:, 1])
    # at each 00:00 UTC the average restarts from that candle alone
    midnight = np.flatnonzero(c.open_time % 86_400_000 == 0)
    assert len(midnight) == 31
    hlc3 = (c.high + c.low + c.close) / 3.0
    np.testing.assert_allclose(vwap[midnight], hlc3[midnight], rtol=1e-12)


def test_vwap_15m_matches_numpy_per_day_cumulative() -> None:
    c = load_15m()
    day = c.open_time // 86_400_000
    pv = (c.high + c.low + c.close) / 3.0 * c.volume
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    lengths = np.diff(np.r_[starts, len(c)])
    cum_pv, cum_v = np.cumsum(pv), np.cumsum(c.volume)
    base_pv = np.repeat(np.r_[0.0, cum_pv[starts[1:] - 1]], lengths)
    base_v = np.repeat(np.r_[0.0, cum_v[starts[1:] - 1]], lengths)
    # cumulative sums over two years lose a few digits; compare with that in mind
    assert_matches("vwap", compute_batch(c)["vwap"], (cum_pv - base_pv) / (cum_v - base_v), 1e-7)


@pytest.mark.parametrize("which", ["15m", "1h"])
def test_vwma_matches_numpy_window_sums(which: str) -> None:
    c = load_15m() if which == "15m" else load_1h()
    n = 20
    pv = sliding_window_view(c.close * c.volume, n).sum(axis=1)
    vv = sliding_window_view(c.volume, n).sum(axis=1)
    expected = np.r_[np.full(n - 1, np.nan), pv / vv]
    assert_matches("vwma20", compute_batch(c)["vwma20"], expected)


def test_bollinger_std_is_population_std_to_full_precision() -> None:
    c = load_15m()
    out = compute_batch(c)
    window = sliding_window_view(c.close, 20)
    std = window.std(axis=1)  # ddof=0
    ours = (out["bb_upper"][19:] - out["bb_middle"][19:]) / 2.0
    np.testing.assert_allclose(ours, std, rtol=1e-11)
    np.testing.assert_allclose(out["bb_middle"][19:], window.mean(axis=1), rtol=1e-12)


def test_flat_market_gives_talib_conventions() -> None:
    n = 80
    flat = CandleArrays(
        open_time=np.arange(n, dtype=np.int64) * 900_000,
        open=np.full(n, 100.0),
        high=np.full(n, 100.0),
        low=np.full(n, 100.0),
        close=np.full(n, 100.0),
        volume=np.zeros(n),
        has_volume=True,
    )
    out = compute_batch(flat)
    ref = talib_reference(flat, FeatureParams())
    for name in ("rsi14", "atr14", "bb_upper", "adx14", "plus_di14", "minus_di14"):
        assert np.array_equal(out[name], ref[name], equal_nan=True), name
    assert out["rsi14"][14] == 0.0  # TA-Lib: RSI of a flat market is 0
    assert np.isnan(out["vwap"]).all() and np.isnan(out["vwma20"]).all()  # no volume at all


def test_talib_recurrences_are_reproduced_to_the_bit() -> None:
    # same operations in the same order as TA-Lib 0.6 (the pinned wheel), not just close
    c = load_15m()
    ours = compute_batch(c)
    ref = talib_reference(c, FeatureParams())
    exact = ("ema20", "ema50", "ema200", "rsi14", "bb_middle", "adx14")
    for name in (*exact, "plus_di14", "minus_di14"):
        assert np.array_equal(ours[name], ref[name], equal_nan=True), name
