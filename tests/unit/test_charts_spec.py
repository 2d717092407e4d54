"""ChartSpec validation (bad input fails with a specific ValueError) and the axis helpers."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from charts import ChartRenderer, ChartSpec, Level, Marker, Zone
from charts.layers import spread_labels
from charts.png import encode_rgb_png
from charts.scales import format_price, price_ticks, quoted_decimals, time_ticks, time_to_x
from greenlight.core.candlefile import CandleArrays, read_candles

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def candles() -> CandleArrays:
    """Real 1 h BTCUSDT candles from January 2025 (small fixture, fast to read)."""
    return read_candles(DATA / "btcusdt_1h_2025_01" / "btcusdt-1h.csv")


def with_close(c: CandleArrays, i: int, value: float) -> CandleArrays:
    close = c.close.copy()
    close[i] = value
    return CandleArrays(c.open_time, c.open, c.high, c.low, close, c.volume, c.has_volume)


def test_empty_candles_rejected(candles: CandleArrays) -> None:
    with pytest.raises(ValueError, match="candles are empty"):
        ChartSpec("x", candles.slice(0, 0))


def test_too_many_candles_rejected(candles: CandleArrays) -> None:
    n = 3 * len(candles)
    big = CandleArrays(
        np.arange(n, dtype=np.int64) * 3_600_000,
        np.tile(candles.open, 3),
        np.tile(candles.high, 3),
        np.tile(candles.low, 3),
        np.tile(candles.close, 3),
        np.tile(candles.volume, 3),
        candles.has_volume,
    )
    assert len(big) > 1000
    with pytest.raises(ValueError, match="at most 1000"):
        ChartSpec("x", big)


def test_nan_price_rejected_with_row(candles: CandleArrays) -> None:
    c = with_close(candles.slice(0, 50), 7, float("nan"))
    with pytest.raises(ValueError, match=r"row 7 .*non-finite price"):
        ChartSpec("x", c)


def test_mismatched_line_rejected_with_name(candles: CandleArrays) -> None:
    c = candles.slice(0, 50)
    with pytest.raises(ValueError, match=r"line 'EMA 20' has 49 values but there are 50 candles"):
        ChartSpec("x", c, {"EMA 20": c.close[:49]})


def test_nan_allowed_in_lines_but_not_inf(candles: CandleArrays) -> None:
    c = candles.slice(0, 50)
    warm = c.close.copy()
    warm[:10] = np.nan
    ChartSpec("x", c, {"EMA": warm}, rsi=warm)
    warm[20] = np.inf
    with pytest.raises(ValueError, match="line 'EMA' has a non-finite value at row 20"):
        ChartSpec("x", c, {"EMA": warm})


def test_panel_series_checked(candles: CandleArrays) -> None:
    c = candles.slice(0, 50)
    with pytest.raises(ValueError, match="rsi has 40 values"):
        ChartSpec("x", c, rsi=c.close[:40])
    with pytest.raises(ValueError, match="macd must be"):
        ChartSpec("x", c, macd=(c.close, c.close))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="macd histogram has 10 values"):
        ChartSpec("x", c, macd=(c.close, c.close, c.close[:10]))
    with pytest.raises(ValueError, match="1-D numpy array"):
        ChartSpec("x", c, {"EMA": list(c.close)})  # type: ignore[dict-item]


def test_overlay_objects_validate_themselves() -> None:
    with pytest.raises(ValueError, match="Level: price must be a finite positive"):
        Level(float("nan"), "Entry", "entry")
    with pytest.raises(ValueError, match="Level: kind must be one of"):
        Level(100.0, "Entry", "limit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top 1.0 is below bottom 2.0"):
        Zone(0, None, 1.0, 2.0, "ob", "bull")
    with pytest.raises(ValueError, match="end_time 5 before start_time 10"):
        Zone(10, 5, 2.0, 1.0, "fvg", "bear")
    with pytest.raises(ValueError, match="direction must be one of"):
        Zone(0, None, 2.0, 1.0, "ob", "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a bos marker needs ref_time"):
        Marker(10, 1.0, "BOS", "bos")
    with pytest.raises(ValueError, match="ref_time 20 is after time 10"):
        Marker(10, 1.0, "CHOCH", "choch", ref_time=20)


def test_spec_rejects_wrong_overlay_types(candles: CandleArrays) -> None:
    with pytest.raises(ValueError, match="levels must hold Level objects"):
        ChartSpec("x", candles.slice(0, 10), levels=[(100.0, "Entry", "entry")])  # type: ignore[list-item]


def test_failed_spec_leaves_renderer_output_unchanged(candles: CandleArrays) -> None:
    renderer = ChartRenderer()
    good = ChartSpec("ok", candles.slice(0, 100))
    before = renderer.render_png(good)
    with pytest.raises(ValueError):
        ChartSpec("bad", with_close(candles.slice(0, 100), 3, -1.0))
    assert renderer.render_png(good) == before


def test_time_ticks_are_round_utc_times(candles: CandleArrays) -> None:
    c = candles.slice(0, 300)  # hourly candles, 12.5 days
    xs, labels = time_ticks(c.open_time)
    assert 3 <= len(xs) <= 7
    for x, label in zip(xs, labels, strict=True):
        t = int(c.open_time[int(round(x))])
        assert t % (24 * 3600 * 1000) == 0, "ticks fall on UTC midnights"
        assert label == time.strftime("%d %b", time.gmtime(t / 1000))
    short_xs, short_labels = time_ticks(c.open_time[1:13])  # 11 hours, not from midnight
    assert len(short_xs) >= 3
    for x, label in zip(short_xs, short_labels, strict=True):
        t = int(c.open_time[1 + int(round(x))])
        st = time.gmtime(t / 1000)
        expected = "%d %b" if st.tm_hour == 0 else "%H:%M"
        assert label == time.strftime(expected, st)


def test_time_to_x_maps_inside_and_outside_the_window(candles: CandleArrays) -> None:
    t = candles.open_time[:10]
    assert time_to_x(t, int(t[3])) == 3.0
    assert time_to_x(t, int(t[3]) + 1) == 3.0  # inside candle 3
    assert time_to_x(t, int(t[0]) - 1) == -0.5
    assert time_to_x(t, int(t[-1]) + 10**9) == 9.0


def test_price_ticks_and_formatting() -> None:
    ticks, decimals = price_ticks(8_830.0, 9_410.0)
    assert ticks[0] >= 8_830 and ticks[-1] <= 9_410 and decimals == 0
    assert np.allclose(np.diff(ticks), ticks[1] - ticks[0])
    assert format_price(61_300.0, 0) == "61,300"
    small, d = price_ticks(0.00001200, 0.00001290)
    assert d >= 7 and len({format_price(v, d) for v in small}) == len(small)


def test_the_last_price_tag_shows_the_close_as_quoted() -> None:
    # ticks every 0.05 print 2 decimals; the XRP close under the tag keeps its 4
    assert quoted_decimals(1.0523, 2) == 4 and format_price(1.0523, 4) == "1.0523"
    assert quoted_decimals(3983.44, 0) == 2 and quoted_decimals(61_300.0, 0) == 0
    assert quoted_decimals(61_300.0, 2) == 2  # never fewer than the ticks
    assert quoted_decimals(0.00001234, 0) == 8 and quoted_decimals(1 / 3, 0) == 8  # capped


def test_spread_labels_keeps_a_minimum_gap() -> None:
    prices = [100.0, 100.5, 101.0, 150.0]
    placed = spread_labels(prices, 5.0)
    ordered = sorted(placed)
    assert all(b - a >= 5.0 - 1e-9 for a, b in zip(ordered, ordered[1:], strict=False))
    assert abs(placed[3] - 150.0) < 10  # a far label barely moves
    assert spread_labels([10.0, 50.0], 5.0) == [10.0, 50.0]


def test_png_writer_round_trips_exact_pixels(candles: CandleArrays) -> None:
    renderer = ChartRenderer()
    first = np.asarray(Image.open(io.BytesIO(renderer.render_png(ChartSpec("x", candles)))))
    varied = first.copy()
    varied[::7, ::3] = varied[::7, ::3] // 2  # not only chart colours
    rgba = np.dstack([varied, np.full(varied.shape[:2], 255, np.uint8)])
    png = encode_rgb_png(rgba)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == varied.shape and np.array_equal(decoded, varied)
    assert encode_rgb_png(rgba) == png
    with pytest.raises(ValueError, match=r"\(h, w, 4\) uint8 RGBA"):
        encode_rgb_png(varied)
