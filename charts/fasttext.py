"""An Agg canvas that caches rasterised text.

Stock Agg re-lays-out and re-rasterises every glyph of every label on every draw (~1 ms per
label here), which is most of a snapshot's render time. Chart labels repeat a lot between
renders (tick labels, "HH", "BOS", level tags), so this renderer rasterises a string once per
font and blits the cached bitmap afterwards, at whole-pixel positions. Rotated text and
mathtext go through the stock path.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from matplotlib.backend_bases import GraphicsContextBase
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.text import Text

CACHE_SIZE = 4096

_Key = tuple[Any, ...]
_Glyphs = tuple[npt.NDArray[np.uint8], float, float]


def _hinting() -> Any:
    return get_hinting_flag()  # type: ignore[no-untyped-call]


def _font_key(prop: FontProperties) -> _Key:
    return (
        tuple(prop.get_family()),
        prop.get_style(),
        prop.get_variant(),
        prop.get_weight(),
        prop.get_stretch(),
        prop.get_size_in_points(),
        prop.get_file(),
    )


class CachedTextRenderer(RendererAgg):
    """RendererAgg whose ``draw_text`` reuses rasterised strings (LRU, ``CACHE_SIZE``)."""

    def __init__(self, width: float, height: float, dpi: float) -> None:
        super().__init__(width, height, dpi)  # type: ignore[no-untyped-call]
        self._text_cache: OrderedDict[_Key, _Glyphs] = OrderedDict()
        self._height_cache: dict[_Key, tuple[Any, Any, Any]] = {}

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[Any, Any, Any]:
        # Hook that Text._get_layout asks renderers for; its fallback re-reads the font tables
        # for every label on every draw. Same numbers (OS/2, else hhea), cached per font.
        key = (_font_key(prop), self.dpi)
        if key not in self._height_cache:
            font = get_font(fontManager._find_fonts_by_props(prop))
            metrics: tuple[Any, Any, Any] = (None, None, None)  # None: Text measures itself
            candidates: list[tuple[Any, tuple[str, str, str]]] = [
                (font.get_sfnt_table("OS/2"), ("sTypoLineGap", "sTypoAscender", "sTypoDescender")),
                (font.get_sfnt_table("hhea"), ("lineGap", "ascent", "descent")),
            ]
            for table, keys in candidates:
                if table is not None:
                    head: Any = font.get_sfnt_table("head")
                    scale = prop.get_size_in_points() * self.dpi / 72 / head["unitsPerEm"]
                    gap, ascent, descent = (float(table[k]) * scale for k in keys)
                    metrics = (ascent, -descent, gap)
                    break
            self._height_cache[key] = metrics
        return self._height_cache[key]

    def _rasterise(self, s: str, prop: FontProperties, antialiased: bool) -> _Glyphs:
        font = self._prepare_font(prop)  # type: ignore[no-untyped-call]
        font.set_text(s, 0.0, flags=_hinting())
        font.draw_glyphs_to_bitmap(antialiased=antialiased)
        image = np.array(font.get_image(), dtype=np.uint8)
        xo, yo = font.get_bitmap_offset()
        return image, xo / 64.0, (yo + font.get_descent()) / 64.0

    def draw_text(
        self,
        gc: GraphicsContextBase,
        x: float,
        y: float,
        s: str,
        prop: FontProperties,
        angle: float,
        ismath: bool | str = False,
        mtext: Text | None = None,
    ) -> None:
        """Draw ``s`` with its baseline at (x, y) (y downwards), from the cache when possible."""
        if ismath or angle != 0:
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)  # type: ignore[no-untyped-call]
            return
        aa = bool(gc.get_antialiased())
        key = (s, _font_key(prop), aa, _hinting())
        cached = self._text_cache.get(key)
        if cached is None:
            cached = self._rasterise(s, prop, aa)
            self._text_cache[key] = cached
            if len(self._text_cache) > CACHE_SIZE:
                self._text_cache.popitem(last=False)
        else:
            self._text_cache.move_to_end(key)
        image, xo, yo = cached
        if image.size:
            # Same placement as Agg's classic single-bitmap text path: y is the bitmap bottom.
            self._renderer.draw_text_image(image, round(x + xo), round(y + yo) + 1, 0, gc)


class CachedTextCanvas(FigureCanvasAgg):
    """FigureCanvasAgg drawing with a :class:`CachedTextRenderer`."""

    def __init__(self, figure: Figure) -> None:
        super().__init__(figure)
        self._widths: dict[tuple[str, _Key], float] = {}

    def get_renderer(self) -> RendererAgg:
        """The canvas renderer, rebuilt only when the figure size or DPI changes."""
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = CachedTextRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        return cast(RendererAgg, self.renderer)

    def text_width(self, s: str, prop: FontProperties) -> float:
        """Width in pixels of ``s`` drawn with ``prop`` (cached)."""
        key = (s, _font_key(prop))
        width = self._widths.get(key)
        if width is None:
            renderer = self.get_renderer()
            width = float(renderer.get_text_width_height_descent(s, prop, ismath=False)[0])  # type: ignore[no-untyped-call]
            self._widths[key] = width
        return width
