"""Chart snapshots for chat and reports (matplotlib, Agg): candles with overlays, levels, zones,
structure markers and optional RSI / MACD panels, rendered to PNG fast enough for the chat path.
"""

import matplotlib

matplotlib.use("Agg")

from charts.layout import figure_size  # noqa: E402
from charts.renderer import ChartRenderer  # noqa: E402
from charts.spec import ChartSpec, Level, Marker, Zone  # noqa: E402

__all__ = ["ChartRenderer", "ChartSpec", "Level", "Marker", "Zone", "figure_size"]
