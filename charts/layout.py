"""One reusable figure per panel combination, with a fixed pixel layout and the artists every
render updates in place: candles (four NaN-separated polylines), grids, tick labels and label
pools. matplotlib's own tick machinery is switched off; it costs more than the chart itself.
Per-render artists (overlay lines, level lines, zones) are tracked and removed next time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matplotlib import transforms
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from charts import theme
from charts.fasttext import CachedTextCanvas
from charts.pool import TextPool

# Z-orders, one per kind of artist, so draw order never depends on creation order.
Z_GRID, Z_ZONE, Z_ZONE_TEXT, Z_WICK, Z_BODY, Z_LINE = 0.5, 1.0, 1.5, 3.0, 4.0, 5.0
Z_LEVEL, Z_STRUCT, Z_SWING_TEXT, Z_STRUCT_TEXT, Z_LEGEND = 6.0, 6.5, 7.0, 7.2, 7.5
Z_LEVEL_TEXT, Z_TAG = 8.0, 9.0


def figure_size(rsi: bool, macd: bool) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of a snapshot with the given lower panels."""
    panels = int(rsi) + int(macd)
    return theme.WIDTH_PX, theme.PRICE_HEIGHT_PX + panels * theme.PANEL_HEIGHT_PX


@dataclass
class Frame:
    """One axes with its hand-made grid and tick labels."""

    ax: Axes
    vgrid: Line2D
    hgrid: Line2D
    yticks: TextPool
    xticks: TextPool | None  # only the bottom axes carries time labels
    label: Text  # panel caption top-left ("RSI 47.3")


@dataclass
class Candles:
    """Wicks and bodies, split by direction, each one polyline."""

    wick_up: Line2D
    wick_down: Line2D
    body_up: Line2D
    body_down: Line2D


@dataclass
class Labels:
    """Label pools of the price panel."""

    swing_high: TextPool
    swing_low: TextPool
    structure: TextPool
    zone: TextPool
    level: TextPool
    legend: TextPool
    tag: TextPool


@dataclass
class Layout:
    """A figure with its axes and the artists reused across renders."""

    figure: Figure
    canvas: CachedTextCanvas
    price: Frame
    rsi: Frame | None
    macd: Frame | None
    candles: Candles
    labels: Labels
    title: Text
    subtitle: Text
    rsi_line: Line2D | None = None
    macd_lines: tuple[Line2D, Line2D, Line2D, Line2D] | None = None  # line, signal, hist ±
    dynamic: list[Artist] = field(default_factory=list)
    right_margin: int = theme.MARGIN_RIGHT_PX

    @property
    def frames(self) -> list[Frame]:
        """Price frame first, then the lower panels present."""
        return [f for f in (self.price, self.rsi, self.macd) if f is not None]

    def set_right_margin(self, px: int) -> None:
        """Room for the price labels right of the plots, in pixels (axes resized in place)."""
        if px == self.right_margin:
            return
        width = theme.WIDTH_PX
        plot_w = (width - theme.MARGIN_LEFT_PX - px) / width
        for frame in self.frames:
            left, bottom, _, height = frame.ax.get_position().bounds
            frame.ax.set_position((left, bottom, plot_w, height))
        self.subtitle.set_x(1 - px / width)
        self.right_margin = px

    def clear_dynamic(self) -> None:
        """Remove every artist the previous render added."""
        for artist in self.dynamic:
            artist.remove()
        self.dynamic.clear()


def _line(ax: Axes, colour: str, width: float, z: float, **kw: object) -> Line2D:
    line = Line2D([], [], color=colour, linewidth=width, zorder=z, **kw)  # type: ignore[arg-type]
    ax.add_line(line)
    return line


def _frame(fig: Figure, rect: tuple[float, float, float, float], bottom: bool) -> Frame:
    ax = fig.add_axes(rect)
    ax.set_facecolor(theme.BACKGROUND)
    for name, spine in ax.spines.items():
        spine.set_color(theme.SPINE)
        spine.set_visible(name in ("right", "bottom"))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_autoscale_on(False)
    tick_style: dict[str, Any] = {"fontsize": theme.FONT_TICK, "color": theme.INK, "clip_on": False}
    yticks = TextPool(
        ax,
        transform=transforms.offset_copy(ax.get_yaxis_transform(), fig=fig, x=6, units="dots"),
        ha="left",
        va="center",
        **tick_style,
    )
    xticks = None
    if bottom:
        xticks = TextPool(
            ax,
            transform=transforms.offset_copy(ax.get_xaxis_transform(), fig=fig, y=-6, units="dots"),
            ha="center",
            va="top",
            **tick_style,
        )
    label = ax.text(
        0.006,
        0.95,
        "",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=theme.FONT_SMALL,
        color=theme.MUTED,
        zorder=Z_LEGEND,
    )
    vgrid = _line(ax, theme.GRID, 0.8, Z_GRID, transform=ax.get_xaxis_transform())
    hgrid = _line(ax, theme.GRID, 0.8, Z_GRID, transform=ax.get_yaxis_transform())
    return Frame(ax, vgrid, hgrid, yticks, xticks, label)


def _rect(fig_h: int, top_px: int, height_px: int) -> tuple[float, float, float, float]:
    left = theme.MARGIN_LEFT_PX / theme.WIDTH_PX
    width = (theme.WIDTH_PX - theme.MARGIN_LEFT_PX - theme.MARGIN_RIGHT_PX) / theme.WIDTH_PX
    bottom = (fig_h - top_px - height_px) / fig_h
    return left, bottom, width, height_px / fig_h


def _candles(ax: Axes) -> Candles:
    butt = {"solid_capstyle": "butt", "snap": True}  # crisp, pixel-aligned strokes
    return Candles(
        _line(ax, theme.CANDLE_UP, 0.8, Z_WICK, **butt),
        _line(ax, theme.CANDLE_DOWN, 0.8, Z_WICK, **butt),
        _line(ax, theme.CANDLE_UP, 2.0, Z_BODY, **butt),
        _line(ax, theme.CANDLE_DOWN, 2.0, Z_BODY, **butt),
    )


def _labels(fig: Figure, ax: Axes) -> Labels:
    def offset(y: float) -> transforms.Transform:
        return transforms.offset_copy(ax.transData, fig=fig, y=y, units="points")

    halo = {
        "boxstyle": "square,pad=0.1",
        "facecolor": theme.BACKGROUND,
        "alpha": 0.75,
        "edgecolor": "none",
    }
    small: dict[str, Any] = {
        "fontsize": theme.FONT_SWING,
        "color": theme.SWING_COLOUR,
        "ha": "center",
        "bbox": halo,
    }
    box = {"boxstyle": "round,pad=0.25", "facecolor": theme.INK, "edgecolor": "none"}
    tag_box = {"boxstyle": "square,pad=0.25", "facecolor": theme.INK, "edgecolor": "none"}
    return Labels(
        swing_high=TextPool(ax, transform=offset(3), va="bottom", zorder=Z_SWING_TEXT, **small),
        swing_low=TextPool(ax, transform=offset(-3), va="top", zorder=Z_SWING_TEXT, **small),
        structure=TextPool(
            ax,
            transform=offset(2),
            ha="center",
            va="bottom",
            fontsize=theme.FONT_SMALL,
            fontweight="bold",
            zorder=Z_STRUCT_TEXT,
            bbox=halo,
        ),
        zone=TextPool(
            ax, ha="left", va="top", fontsize=theme.FONT_SWING, zorder=Z_ZONE_TEXT, clip_on=True
        ),
        level=TextPool(
            ax,
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            color="white",
            fontsize=theme.FONT_LEVEL,
            fontweight="bold",
            zorder=Z_LEVEL_TEXT,
            bbox=box,
            tint_box=True,
        ),
        legend=TextPool(
            ax,
            transform=ax.transAxes,
            ha="left",
            va="top",
            zorder=Z_LEGEND,
            fontsize=theme.FONT_SMALL,
            fontweight="bold",
        ),
        tag=TextPool(
            ax,
            transform=transforms.offset_copy(ax.get_yaxis_transform(), fig=fig, x=2, units="dots"),
            ha="left",
            va="center",
            color="white",
            fontsize=theme.FONT_TICK,
            zorder=Z_TAG,
            clip_on=False,
            bbox=tag_box,
            tint_box=True,
        ),
    )


def build_layout(rsi: bool, macd: bool) -> Layout:
    """A new figure for the given lower panels, styled and laid out in fixed pixels."""
    width, height = figure_size(rsi, macd)
    fig = Figure(figsize=(width / theme.DPI, height / theme.DPI), dpi=theme.DPI)
    fig.set_facecolor(theme.BACKGROUND)
    canvas = CachedTextCanvas(fig)
    price_h = theme.PRICE_HEIGHT_PX - theme.MARGIN_TOP_PX - theme.MARGIN_BOTTOM_PX
    price = _frame(fig, _rect(height, theme.MARGIN_TOP_PX, price_h), not (rsi or macd))
    top = theme.MARGIN_TOP_PX + price_h + theme.PANEL_GAP_PX
    panel_h = theme.PANEL_HEIGHT_PX - theme.PANEL_GAP_PX
    rsi_frame = macd_frame = None
    if rsi:
        rsi_frame = _frame(fig, _rect(height, top, panel_h), not macd)
        top += theme.PANEL_HEIGHT_PX
    if macd:
        macd_frame = _frame(fig, _rect(height, top, panel_h), True)
    title_y = 1 - (theme.MARGIN_TOP_PX / 2) / height
    title = fig.text(
        theme.MARGIN_LEFT_PX / width,
        title_y,
        "",
        fontsize=theme.FONT_TITLE,
        fontweight="bold",
        color=theme.INK,
        ha="left",
        va="center",
    )
    subtitle = fig.text(
        1 - theme.MARGIN_RIGHT_PX / width,
        title_y,
        "",
        fontsize=theme.FONT_SMALL,
        color=theme.MUTED,
        ha="right",
        va="center",
    )
    layout = Layout(
        fig,
        canvas,
        price,
        rsi_frame,
        macd_frame,
        _candles(price.ax),
        _labels(fig, price.ax),
        title,
        subtitle,
    )
    if rsi_frame is not None:
        layout.rsi_line = _rsi_artists(rsi_frame)
    if macd_frame is not None:
        layout.macd_lines = _macd_artists(macd_frame)
    return layout


def _rsi_artists(frame: Frame) -> Line2D:
    ax = frame.ax
    ax.set_ylim(0, 100)
    ax.axhspan(30, 70, color=theme.RSI_COLOUR, alpha=0.06, linewidth=0, zorder=Z_ZONE)
    guides = _line(ax, theme.MUTED, 0.8, Z_ZONE_TEXT, linestyle=(0, (4, 3)))
    guides.set_transform(ax.get_yaxis_transform())
    guides.set_data([0, 1, float("nan"), 0, 1], [30, 30, float("nan"), 70, 70])
    frame.yticks.show([(1.0, v, str(v)) for v in (30, 50, 70)])
    return _line(ax, theme.RSI_COLOUR, 1.3, Z_LINE)


def _macd_artists(frame: Frame) -> tuple[Line2D, Line2D, Line2D, Line2D]:
    ax = frame.ax
    zero = _line(ax, theme.SPINE, 0.8, Z_ZONE_TEXT, transform=ax.get_yaxis_transform())
    zero.set_data([0, 1], [0, 0])
    butt = {"solid_capstyle": "butt", "alpha": 0.6}
    return (
        _line(ax, theme.MACD_LINE_COLOUR, 1.2, Z_LINE),
        _line(ax, theme.MACD_SIGNAL_COLOUR, 1.2, Z_LINE),
        _line(ax, theme.HIST_UP, 2.0, Z_BODY, **butt),
        _line(ax, theme.HIST_DOWN, 2.0, Z_BODY, **butt),
    )
