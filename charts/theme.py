"""Colours, sizes and fonts of chart snapshots: dark ink on a light background, sized for a phone.

All colours are hex strings so tests can derive the exact pixel colour they expect.
"""

from __future__ import annotations

from typing import Final

BACKGROUND: Final = "#ffffff"
INK: Final = "#1f2933"  # titles, tick labels
MUTED: Final = "#616e7c"  # secondary text
GRID: Final = "#e4e7eb"
SPINE: Final = "#cbd2d9"

CANDLE_UP: Final = "#26a69a"
CANDLE_DOWN: Final = "#ef5350"

LEVEL_COLOURS: Final = {
    "entry": "#1565c0",
    "stop": "#d32f2f",
    "target": "#2e7d32",
    "other": "#616e7c",
}
LEVEL_WIDTH: Final = 1.6  # points

ZONE_COLOURS: Final = {"bull": "#2e9e44", "bear": "#e53935"}
ZONE_ALPHA: Final = {"ob": 0.20, "fvg": 0.10}

SWING_COLOUR: Final = "#3e4c59"
STRUCTURE_COLOURS: Final = {"bos": "#37474f", "choch": "#e65100"}
FILL_COLOURS: Final = {"buy": "#1565c0", "sell": "#6a1b9a"}  # trade fill markers ▲ / ▼

# Overlay lines (EMAs …) take these colours in the order given in ChartSpec.lines.
LINE_COLOURS: Final = ("#f9a825", "#8e24aa", "#0277bd", "#6d4c41", "#00897b", "#c2185b")

RSI_COLOUR: Final = "#7e57c2"
MACD_LINE_COLOUR: Final = "#1e88e5"
MACD_SIGNAL_COLOUR: Final = "#fb8c00"
HIST_UP: Final = "#26a69a"
HIST_DOWN: Final = "#ef5350"

FONT_TITLE: Final = 13.0
FONT_TICK: Final = 10.0
FONT_LEVEL: Final = 9.5
FONT_SMALL: Final = 8.0
FONT_SWING: Final = 7.5

DPI: Final = 100
WIDTH_PX: Final = 1000
PRICE_HEIGHT_PX: Final = 600  # figure height without lower panels
PANEL_HEIGHT_PX: Final = 120  # added per lower panel (RSI, MACD)

# Fixed margins in pixels; the layout never depends on the content, so no tight_layout.
MARGIN_TOP_PX: Final = 40
MARGIN_BOTTOM_PX: Final = 30
MARGIN_LEFT_PX: Final = 14
MARGIN_RIGHT_PX: Final = 84
PANEL_GAP_PX: Final = 10

RIGHT_PAD_FRACTION: Final = 0.16  # empty space right of the last candle, for level labels
