"""Chart snapshots rendered from real BTCUSDT 15m windows: size, content at known pixels,
determinism and reuse of figures without leftovers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import talib
from matplotlib.colors import to_rgb
from PIL import Image

from charts import ChartRenderer, ChartSpec, Level, Marker, Zone, figure_size, theme
from greenlight.core.candlefile import CandleArrays, read_candles

DATA = Path(__file__).resolve().parents[2] / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
WARMUP = 200


@pytest.fixture(scope="module")
def candles() -> CandleArrays:
    return read_candles(DATA)


@pytest.fixture(scope="module")
def renderer() -> ChartRenderer:
    return ChartRenderer()


def window(
    candles: CandleArrays, start: int, n: int = 300
) -> tuple[CandleArrays, dict[str, npt.NDArray[np.float64]]]:
    """Candles ``start:start+n`` and EMA 20/50/200 computed with warm-up before the window."""
    full = candles.slice(start - WARMUP, start + n)
    emas = {f"EMA {p}": talib.EMA(full.close, p)[WARMUP:] for p in (20, 50, 200)}
    return full.slice(WARMUP, WARMUP + n), emas


def decode(png: bytes) -> npt.NDArray[np.uint8]:
    """RGB pixels of a PNG."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def rgb255(colour: str, alpha: float = 1.0) -> npt.NDArray[np.float64]:
    """``colour`` at ``alpha`` over the white background, in 0..255."""
    fg, bg = np.array(to_rgb(colour)), np.array(to_rgb(theme.BACKGROUND))
    return (alpha * fg + (1 - alpha) * bg) * 255


def close_to(
    pixels: npt.NDArray[np.uint8], colour: npt.NDArray[np.float64], tol: float
) -> npt.NDArray[np.bool_]:
    near: npt.NDArray[np.bool_] = np.abs(pixels.astype(np.float64) - colour).max(axis=-1) <= tol
    return near


def plot_columns(renderer: ChartRenderer, c: CandleArrays) -> tuple[int, int]:
    """Image columns of the first and last candle."""
    x0, _ = renderer.pixel_of(int(c.open_time[0]), float(c.close[0]))
    x1, _ = renderer.pixel_of(int(c.open_time[-1]), float(c.close[-1]))
    return int(round(x0)), int(round(x1))


@pytest.mark.parametrize(
    ("rsi", "macd"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_png_decodes_with_expected_size(
    candles: CandleArrays, renderer: ChartRenderer, rsi: bool, macd: bool
) -> None:
    c, emas = window(candles, 30_000)
    close = candles.slice(30_000 - WARMUP, 30_300).close
    m, s, h = talib.MACD(close, 12, 26, 9)
    spec = ChartSpec(
        "BTCUSDT 15m",
        c,
        emas,
        rsi=talib.RSI(close, 14)[WARMUP:] if rsi else None,
        macd=(m[WARMUP:], s[WARMUP:], h[WARMUP:]) if macd else None,
    )
    png = renderer.render_png(spec)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = decode(png)
    width, height = figure_size(rsi, macd)
    assert pixels.shape == (height, width, 3)
    if rsi:  # the RSI line is really in the panel below the price chart
        price_bottom = theme.PRICE_HEIGHT_PX
        assert close_to(pixels[price_bottom:], rgb255(theme.RSI_COLOUR), 12).sum() > 200


@pytest.mark.parametrize("kind", ["entry", "stop", "target"])
def test_level_line_has_its_colour_across_the_chart(
    candles: CandleArrays, renderer: ChartRenderer, kind: str
) -> None:
    c, emas = window(candles, 41_000)
    price = float(np.median(c.close))
    level = Level(price, f"{kind} {price:,.0f}", kind)  # type: ignore[arg-type]
    pixels = decode(renderer.render_png(ChartSpec("level", c, emas, levels=[level])))
    _, y = renderer.pixel_of(int(c.open_time[0]), price)
    x0, x1 = plot_columns(renderer, c)
    colour = rgb255(theme.LEVEL_COLOURS[kind])
    rows = pixels[int(y) - 2 : int(y) + 3, x0:x1]
    share = close_to(rows, colour, 10).mean(axis=1).max()
    assert share > 0.95, f"{kind} line covers only {share:.0%} of its row"
    elsewhere = pixels[int(y) + 12 : int(y) + 16, x0:x1]
    assert close_to(elsewhere, colour, 10).mean(axis=1).max() < 0.2


def test_zone_interior_has_zone_tint(candles: CandleArrays, renderer: ChartRenderer) -> None:
    c, _ = window(candles, 55_000)
    top_of_candles = float(c.high.max())
    bull = Zone(
        int(c.open_time[40]),
        int(c.open_time[120]),
        top_of_candles * 1.02,
        top_of_candles * 1.01,
        "ob",
        "bull",
    )
    bear = Zone(
        int(c.open_time[150]), None, top_of_candles * 1.04, top_of_candles * 1.03, "fvg", "bear"
    )
    pixels = decode(renderer.render_png(ChartSpec("zones", c, zones=[bull, bear])))
    for zone, t in ((bull, int(c.open_time[80])), (bear, int(c.open_time[250]))):
        x, y = renderer.pixel_of(t, (zone.top + zone.bottom) / 2)
        expected = rgb255(theme.ZONE_COLOURS[zone.direction], theme.ZONE_ALPHA[zone.kind])
        patch = pixels[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3]
        assert close_to(patch, expected, 3).all(), (zone.kind, patch[2, 2], expected)
    # The bull zone ends at candle 120; further right at its price the background shows.
    x, y = renderer.pixel_of(int(c.open_time[140]), (bull.top + bull.bottom) / 2)
    assert close_to(pixels[int(y), int(x)], rgb255(theme.BACKGROUND), 3)
    # The bear zone has no end: it reaches into the empty space right of the last candle.
    x, y = renderer.pixel_of(int(c.open_time[-1]), (bear.top + bear.bottom) / 2)
    expected = rgb255(theme.ZONE_COLOURS["bear"], theme.ZONE_ALPHA["fvg"])
    assert close_to(pixels[int(y), int(x) + 40], expected, 3)


def test_candle_bodies_have_direction_colours(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c, _ = window(candles, 12_000)
    pixels = decode(renderer.render_png(ChartSpec("candles", c)))
    body = np.abs(c.close - c.open)
    for colour, mask in (
        (theme.CANDLE_UP, c.close > c.open),
        (theme.CANDLE_DOWN, c.close < c.open),
    ):
        i = int(np.flatnonzero(mask)[np.argmax(body[mask])])  # biggest body of that direction
        x, y = renderer.pixel_of(int(c.open_time[i]), float(c.open[i] + c.close[i]) / 2)
        row = pixels[int(y), int(x) - 1 : int(x) + 2]
        assert close_to(row, rgb255(colour), 4).any(), (colour, row)


def test_overlay_line_passes_through_its_values(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c, emas = window(candles, 20_000)
    only = {"EMA 200": emas["EMA 200"]}
    pixels = decode(renderer.render_png(ChartSpec("ema", c, only)))
    colour = rgb255(theme.LINE_COLOURS[0])
    hits = 0
    for i in range(10, 300, 29):
        x, y = renderer.pixel_of(int(c.open_time[i]), float(only["EMA 200"][i]))
        patch = pixels[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2]
        hits += bool(close_to(patch, colour, 25).any())
    assert hits >= 9


def test_markers_draw_labels_and_structure_lines(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c, _ = window(candles, 33_000)
    hi = int(np.argmax(c.high[:150]))
    lo = int(np.argmin(c.low[150:])) + 150
    bos_at = min(hi + 60, 299)
    markers = [
        Marker(int(c.open_time[hi]), float(c.high[hi]), "HH", "swing_high"),
        Marker(int(c.open_time[lo]), float(c.low[lo]), "LL", "swing_low"),
        Marker(int(c.open_time[bos_at]), float(c.high[hi]), "BOS", "bos", int(c.open_time[hi])),
    ]
    plain = decode(renderer.render_png(ChartSpec("plain", c)))
    marked = decode(renderer.render_png(ChartSpec("marked", c, markers=markers)))
    x, y = renderer.pixel_of(int(c.open_time[hi]), float(c.high[hi]))
    above = (slice(int(y) - 16, int(y) - 3), slice(int(x) - 10, int(x) + 11))
    ink = rgb255(theme.SWING_COLOUR)
    assert close_to(marked[above], ink, 60).sum() > 5
    assert close_to(plain[above], ink, 60).sum() == 0
    x, y = renderer.pixel_of(int(c.open_time[lo]), float(c.low[lo]))
    below = (slice(int(y) + 3, int(y) + 16), slice(int(x) - 10, int(x) + 11))
    assert close_to(marked[below], ink, 60).sum() > 5
    x0, y = renderer.pixel_of(int(c.open_time[hi]), float(c.high[hi]))
    x1, _ = renderer.pixel_of(int(c.open_time[bos_at]), float(c.high[hi]))
    row = marked[int(y) - 1 : int(y) + 2, int(x0) + 3 : int(x1) - 3]
    dashes = close_to(row, rgb255(theme.STRUCTURE_COLOURS["bos"]), 60).any(axis=0)
    assert 0.3 < dashes.mean() < 0.95, "a dashed line: partly inked, with gaps"


def test_fill_markers_are_triangles_at_their_price(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c, _ = window(candles, 33_000)
    buy_at, sell_at = 100, 200
    fills = [
        Marker(int(c.open_time[buy_at]), float(c.close[buy_at]), "E", "buy"),
        Marker(int(c.open_time[sell_at]) + 60_000, float(c.close[sell_at]), "TP1", "sell"),
    ]
    plain = decode(renderer.render_png(ChartSpec("plain", c)))
    marked = decode(renderer.render_png(ChartSpec("fills", c, markers=fills)))
    for at, kind in ((buy_at, "buy"), (sell_at, "sell")):
        x, y = renderer.pixel_of(int(c.open_time[at]), float(c.close[at]))
        patch = (slice(int(y) - 5, int(y) + 6), slice(int(x) - 5, int(x) + 6))
        ink = rgb255(theme.FILL_COLOURS[kind])
        assert close_to(marked[patch], ink, 40).sum() > 10, kind
        assert close_to(plain[patch], ink, 40).sum() == 0, kind


def test_same_spec_renders_identically_after_others(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c1, e1 = window(candles, 45_000)
    c2, e2 = window(candles, 60_000, 500)
    a = ChartSpec(
        "A",
        c1,
        e1,
        levels=[Level(float(c1.close[-1]), "Entry", "entry")],
        markers=[Marker(int(c1.open_time[100]), float(c1.high[100]), "HH", "swing_high")],
    )
    close2 = candles.slice(60_000 - WARMUP, 60_500).close
    b = ChartSpec(
        "B",
        c2,
        e2,
        levels=[Level(float(c2.close[-1]) * 1.01, f"TP{k}", "target") for k in range(1, 6)],
        zones=[
            Zone(int(c2.open_time[10]), None, float(c2.high[10]), float(c2.low[10]), "ob", "bear")
        ],
        markers=[
            Marker(int(c2.open_time[k]), float(c2.high[k]), "LH", "swing_high")
            for k in range(20, 480, 20)
        ],
        rsi=talib.RSI(close2, 14)[WARMUP:],
    )
    first = renderer.render_png(a)
    other = renderer.render_png(b)
    again = renderer.render_png(a)
    assert first == again
    assert first != other
    # Same layout (no panels) with fewer artists: nothing from the busier spec stays behind.
    b_flat = ChartSpec("B", c2, e2, levels=b.levels, zones=b.zones, markers=b.markers)
    renderer.render_png(b_flat)
    assert renderer.render_png(a) == first
    assert decode(first).shape == decode(renderer.render_png(b_flat)).shape


def test_fresh_renderer_gives_the_same_bytes(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c, emas = window(candles, 50_000)
    spec = ChartSpec("fresh", c, emas, levels=[Level(float(c.close[-1]), "Entry", "entry")])
    assert ChartRenderer().render_png(spec) == renderer.render_png(spec)
    warmed = ChartRenderer()
    warmed.warm_up()
    assert warmed.render_png(spec) == renderer.render_png(spec)


def test_edge_windows_render(candles: CandleArrays, renderer: ChartRenderer) -> None:
    one = candles.slice(100, 101)
    assert decode(renderer.render_png(ChartSpec("one", one))).shape == (600, 1000, 3)
    many = candles.slice(0, 1000)
    far_zone = Zone(int(candles.open_time[5000]), None, 1e5, 9e4, "ob", "bull")  # after the window
    far_marker = Marker(int(candles.open_time[5000]), 1e4, "HH", "swing_high")
    spec = ChartSpec("many", many, zones=[far_zone], markers=[far_marker])
    assert decode(renderer.render_png(spec)).shape == (600, 1000, 3)
    # Indicators still warming up: all-NaN series draw nothing but do not fail.
    c, _ = window(candles, 8_000, 40)
    nan = np.full(40, np.nan)
    warming = ChartSpec("warm-up", c, {"EMA 200": nan}, rsi=nan, macd=(nan, nan, nan))
    assert decode(renderer.render_png(warming)).shape == (840, 1000, 3)


def test_render_to_writes_atomically(
    candles: CandleArrays, renderer: ChartRenderer, tmp_path: Path
) -> None:
    c, emas = window(candles, 25_000)
    spec = ChartSpec("file", c, emas)
    target = tmp_path / "chart.png"
    assert renderer.render_to(spec, target) == target
    assert target.read_bytes() == renderer.render_png(spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]
    with pytest.raises(FileNotFoundError):
        renderer.render_to(spec, tmp_path / "missing" / "chart.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]


def test_pixel_of_needs_a_render() -> None:
    with pytest.raises(ValueError, match="nothing has been rendered"):
        ChartRenderer().pixel_of(0, 1.0)


def test_long_price_labels_stay_inside_the_image(
    candles: CandleArrays, renderer: ChartRenderer
) -> None:
    c = candles.slice(5_000, 5_300)
    scale = 1e-9  # BTC prices as a sub-satoshi quote: 8+ decimals on the price axis
    tiny = CandleArrays(
        c.open_time,
        c.open * scale,
        c.high * scale,
        c.low * scale,
        c.close * scale,
        c.volume,
        c.has_volume,
    )
    pixels = decode(renderer.render_png(ChartSpec("tiny", tiny)))
    assert pixels.shape == (600, 1000, 3)
    right_edge = pixels[:, -3:]
    assert close_to(right_edge, rgb255(theme.BACKGROUND), 0).all(), "a label is cut off"
    ink = close_to(pixels[:, 900:], rgb255(theme.INK), 60).sum()
    assert ink > 100, "the price labels are drawn"
