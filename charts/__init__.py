"""Chart snapshots for chat and reports (matplotlib Agg, no pyplot): candles with overlays,
levels, zones, structure markers and optional RSI / MACD panels, rendered to PNG fast enough
for the chat path. Use one :class:`ChartRenderer` per process, from one thread.
"""

from charts.layout import figure_size
from charts.renderer import ChartRenderer
from charts.spec import ChartSpec, Level, Marker, Zone

__all__ = ["ChartRenderer", "ChartSpec", "Level", "Marker", "Zone", "figure_size"]
