"""Reusable artists: a pool of same-styled texts and NaN-separated segment lines.

Creating matplotlib artists costs far more than updating them, so labels that every render
needs (tick labels, swing labels, level tags …) come from pools whose texts are repositioned
and re-labelled, and unused ones hidden. Each pool has its own z-order, so the draw order of
what is visible never depends on the order in which pool members were created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.text import Text

PoolItem = tuple[float, float, str]


class TextPool:
    """Texts sharing one style on one axes; ``show`` displays exactly the given items.
    Per-item colours tint the text, or its box when ``tint_box``."""

    def __init__(self, ax: Axes, *, tint_box: bool = False, **style: Any) -> None:
        self._ax = ax
        self._style = style
        self._texts: list[Text] = []
        self._tint_box = tint_box

    def show(self, items: Sequence[PoolItem], colours: Sequence[str] | None = None) -> list[Text]:
        """Show ``(x, y, text)`` items, optionally coloured, and hide the rest of the pool;
        returns the visible texts."""
        while len(self._texts) < len(items):
            self._texts.append(self._ax.text(0.0, 0.0, "", **self._style))
        for k, (x, y, s) in enumerate(items):
            text = self._texts[k]
            text.set_position((x, y))
            text.set_text(s)
            text.set_visible(True)
            if colours is not None:
                patch = text.get_bbox_patch() if self._tint_box else None
                if patch is not None:
                    patch.set_facecolor(colours[k])
                else:
                    text.set_color(colours[k])
        for text in self._texts[len(items) :]:
            text.set_visible(False)
        return self._texts[: len(items)]


def segments(
    x: npt.NDArray[np.float64], y0: npt.NDArray[np.float64], y1: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vertical segments ``x, y0 → x, y1`` as one NaN-separated polyline (one path to draw)."""
    xs = np.full(x.shape[0] * 3, np.nan)
    ys = np.full(x.shape[0] * 3, np.nan)
    xs[0::3] = xs[1::3] = x
    ys[0::3], ys[1::3] = y0, y1
    return xs, ys
