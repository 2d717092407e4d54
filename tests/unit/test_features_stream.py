"""Live (one candle at a time) vs batch, persisted state, no lookahead, and refusals."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.features import (
    FeatureEngine,
    FeatureInputError,
    FeatureParams,
    FeatureStateError,
    compute_batch,
)
from greenlight.core.candlefile import CandleArrays
from tests.candle_files import load_1h, load_15m

Arr = npt.NDArray[np.float64]


def stream(engine: FeatureEngine, c: CandleArrays) -> dict[str, Arr]:
    """Feed candles one by one through ``update``; collect the outputs column-wise."""
    rows = [
        engine.update(t, o, h, lo, cl, v)
        for t, o, h, lo, cl, v in zip(
            c.open_time.tolist(),
            c.open.tolist(),
            c.high.tolist(),
            c.low.tolist(),
            c.close.tolist(),
            c.volume.tolist(),
            strict=True,
        )
    ]
    return {name: np.array([r[name] for r in rows]) for name in engine.params.names()}


def assert_identical(a: dict[str, Arr], b: dict[str, Arr], stop: int | None = None) -> None:
    assert list(a) == list(b)
    for name in a:
        assert np.array_equal(a[name][:stop], b[name][:stop], equal_nan=True), name


def test_streaming_equals_batch_bit_for_bit_on_70k_candles() -> None:
    c = load_15m()
    engine = FeatureEngine()
    live = stream(engine, c)
    assert engine.count == len(c)
    assert_identical(live, compute_batch(c))


def test_save_and_restore_mid_stream_continues_identically() -> None:
    c = load_1h()
    params = FeatureParams()
    expected = compute_batch(c, params)
    first = FeatureEngine(params)
    head = first.warm_up(c.slice(0, 300))
    blob = first.to_bytes()
    restored = FeatureEngine.from_bytes(params, blob)
    assert restored.count == 300
    assert restored.to_bytes() == blob
    middle = stream(restored, c.slice(300, 500))
    tail = FeatureEngine.from_bytes(params, restored.to_bytes()).warm_up(c.slice(500, len(c)))
    joined = {k: np.concatenate([head[k], middle[k], tail[k]]) for k in expected}
    assert_identical(joined, expected)


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=1, max_value=743))
def test_no_lookahead_prefix_of_batch_is_batch_of_prefix_1h(cut: int) -> None:
    c = load_1h()
    assert_identical(compute_batch(c.slice(0, cut)), compute_batch(c), stop=cut)


@settings(max_examples=25, deadline=None)
@given(start=st.integers(0, 60_000), cut=st.integers(1, 1_500))
def test_no_lookahead_on_15m_slices(start: int, cut: int) -> None:
    c = load_15m().slice(start, start + 1_500)
    full = compute_batch(c)
    prefix = compute_batch(c.slice(0, cut))
    assert_identical(prefix, full, stop=cut)


def test_update_refuses_bad_candles_and_changes_nothing() -> None:
    c = load_1h()
    engine = FeatureEngine()
    engine.warm_up(c.slice(0, 100))
    before = engine.to_bytes()
    t = int(c.open_time[100])
    bad = [
        ((int(c.open_time[99]), 1.0, 2.0, 0.5, 1.5, 1.0), "not after"),
        ((t, 1.0, 2.0, float("nan"), 1.5, 1.0), "finite and positive"),
        ((t, 1.0, float("inf"), 0.5, 1.5, 1.0), "finite and positive"),
        ((t, -1.0, 2.0, 0.5, 1.5, 1.0), "finite and positive"),
        ((t, 1.0, 0.4, 0.5, 0.45, 1.0), "high >= low"),
        ((t, 3.0, 2.0, 0.5, 1.5, 1.0), "bracket"),
        ((t, 1.0, 2.0, 0.5, 1.5, -3.0), "volume"),
    ]
    for args, reason in bad:
        with pytest.raises(FeatureInputError, match=reason):
            engine.update(*args)
        assert engine.to_bytes() == before
    out = engine.update(t, c.open[100], c.high[100], c.low[100], c.close[100], c.volume[100])
    expected = compute_batch(c.slice(0, 101))
    assert all(np.array_equal(out[k], expected[k][100], equal_nan=True) for k in out)


def test_warm_up_refuses_a_bad_row_and_keeps_state() -> None:
    c = load_1h().slice(0, 200)
    close = c.close.copy()
    close[150] = c.high[150] * 2  # close above the high
    broken = CandleArrays(c.open_time, c.open, c.high, c.low, close, c.volume, True)
    engine = FeatureEngine()
    engine.warm_up(c.slice(0, 50))
    before = engine.to_bytes()
    with pytest.raises(FeatureInputError, match=r"row 100 \(open_time \d+\)"):
        engine.warm_up(broken.slice(50, 200))
    assert engine.count == 50 and engine.to_bytes() == before


def test_from_bytes_refuses_other_params_and_damaged_data() -> None:
    engine = FeatureEngine()
    engine.warm_up(load_1h().slice(0, 60))
    blob = engine.to_bytes()
    other = FeatureParams(rsi=21)
    with pytest.raises(FeatureStateError, match="saved with periods .* configured with"):
        FeatureEngine.from_bytes(other, blob)
    with pytest.raises(FeatureStateError, match="bb_k"):
        FeatureEngine.from_bytes(FeatureParams(bb_k=2.5), blob)
    with pytest.raises(FeatureStateError, match="bytes, expected"):
        FeatureEngine.from_bytes(FeatureParams(), blob[:-8])
    with pytest.raises(FeatureStateError, match="bad header"):
        FeatureEngine.from_bytes(FeatureParams(), b"nonsense" + blob)
    with pytest.raises(FeatureStateError, match="bad header"):
        FeatureEngine.from_bytes(FeatureParams(), b"")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ema": (20, 20, 200)}, "must differ"),
        ({"macd": (26, 12, 9)}, "fast < slow"),
        ({"rsi": 1}, "rsi period"),
        ({"bb_k": 0.0}, "bb_k"),
        ({"bb_k": float("nan")}, "bb_k"),
        ({"atr": 14.0}, "must be ints"),
        ({"vwma": 10**7}, "vwma period"),
    ],
)
def test_params_refuse_bad_periods(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureParams(**kwargs)  # type: ignore[arg-type]


def test_names_follow_the_periods() -> None:
    p = FeatureParams(ema=(9, 21, 55), rsi=7, atr=10, vwma=30, adx=20)
    assert p.names() == (
        "ema9",
        "ema21",
        "ema55",
        "rsi7",
        "macd",
        "macd_signal",
        "macd_hist",
        "atr10",
        "bb_upper",
        "bb_middle",
        "bb_lower",
        "bb_width",
        "vwap",
        "vwma30",
        "adx20",
        "plus_di20",
        "minus_di20",
    )
    assert len(FeatureEngine(p).update(0, 1.0, 1.0, 1.0, 1.0, 1.0)) == 17
