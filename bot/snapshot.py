"""Chart snapshots for confirmations: the decision's recent candles, EMAs, entry/stop/targets,
and the SMC structure known at the decision candle (swing labels, BOS/CHOCH lines, OB/FVG zones
not yet mitigated or expired), read from the stored analysis rows."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from charts.renderer import ChartRenderer
from charts.spec import ChartSpec, Level, Marker, MarkerKind, Zone
from greenlight.core.candlefile import CandleArrays

log = logging.getLogger(__name__)
MAX_ZONES = 30
LATEST = 2**62  # "no upper bound" for an open time in ms

_SWINGS_SQL = """
SELECT pivot_time, kind, label, price FROM swings
WHERE venue=$1 AND symbol=$2 AND tf=$3 AND pivot_time >= $4 AND known_time <= $5
ORDER BY pivot_time"""
_STRUCTURE_SQL = """
SELECT open_time, kind, level, ref_swing_time FROM smc_events
WHERE venue=$1 AND symbol=$2 AND tf=$3 AND open_time >= $4 AND open_time <= $5
ORDER BY open_time"""
_ZONES_SQL = """
SELECT kind, direction, start_time, top, bottom FROM zones
WHERE venue=$1 AND symbol=$2 AND tf=$3 AND known_time <= $5 AND start_time >= $4
  AND (mitigated_time IS NULL OR mitigated_time > $5)
  AND (expired_time IS NULL OR expired_time > $5)
ORDER BY known_time DESC LIMIT $6"""


async def structure_overlays(
    conn: asyncpg.Connection, d: dict[str, Any], first: int, low: float, high: float
) -> tuple[list[Marker], list[Zone]]:
    """Swing labels, BOS/CHOCH markers and live zones known at the decision candle, for the
    chart window starting at ``first`` (zones outside ``low``..``high`` are left out)."""
    key = (d["venue"], d["symbol"], d["tf"])
    at = int(d["open_time"])
    markers = [
        Marker(
            int(r["pivot_time"]),
            float(r["price"]),
            r["label"] or ("H" if r["kind"] == "high" else "L"),
            "swing_high" if r["kind"] == "high" else "swing_low",
        )
        for r in await conn.fetch(_SWINGS_SQL, *key, first, at)
    ]
    for r in await conn.fetch(_STRUCTURE_SQL, *key, first, at):
        kind: MarkerKind = "choch" if r["kind"].startswith("CHOCH") else "bos"
        text = r["kind"].replace("_UP", " ↑").replace("_DN", " ↓")
        ref = min(int(r["ref_swing_time"]), int(r["open_time"]))
        markers.append(Marker(int(r["open_time"]), float(r["level"]), text, kind, ref))
    oldest = first - (at - first)  # zones that began up to one window before it
    zones = [
        Zone(
            int(r["start_time"]),
            None,
            float(r["top"]),
            float(r["bottom"]),
            "ob" if r["kind"] == "OB" else "fvg",
            "bull" if r["direction"] == "bullish" else "bear",
        )
        for r in await conn.fetch(_ZONES_SQL, *key, oldest, at, MAX_ZONES)
        if float(r["bottom"]) <= high and float(r["top"]) >= low
    ]
    return markers, zones


@dataclass(frozen=True)
class Window:
    """Candles of a chart and their EMA lines; ``first`` is the first candle's open time."""

    candles: CandleArrays
    lines: dict[str, npt.NDArray[np.float64]]
    first: int
    low: float
    high: float


async def load_window(
    conn: asyncpg.Connection, venue: str, symbol: str, tf: str, until: int | None, n: int
) -> Window | None:
    """The last ``n`` candles of a stream up to ``until`` (the newest when ``None``) with
    EMA 20/50/200; ``None`` with fewer than two candles."""
    rows = await conn.fetch(
        "SELECT c.open_time, c.open, c.high, c.low, c.close, c.volume, i.ema20, i.ema50,"
        " i.ema200 FROM candles c LEFT JOIN indicators i USING (venue, symbol, tf,"
        " open_time) WHERE c.venue=$1 AND c.symbol=$2 AND c.tf=$3"
        " AND c.open_time <= $4 ORDER BY c.open_time DESC LIMIT $5",
        venue,
        symbol,
        tf,
        LATEST if until is None else until,  # one plan for both (the index range stays usable)
        n,
    )
    if len(rows) < 2:
        return None
    rows = list(reversed(rows))

    def col(name: str) -> npt.NDArray[np.float64]:
        return np.array([np.nan if r[name] is None else float(r[name]) for r in rows])

    candles = CandleArrays(
        np.array([r["open_time"] for r in rows], dtype=np.int64),
        col("open"),
        col("high"),
        col("low"),
        col("close"),
        col("volume"),
        True,
    )
    lines = {"EMA 20": col("ema20"), "EMA 50": col("ema50"), "EMA 200": col("ema200")}
    low, high = float(np.nanmin(candles.low)), float(np.nanmax(candles.high))
    return Window(candles, lines, int(rows[0]["open_time"]), low, high)


class DecisionCharts:
    """Renders one PNG per decision into ``directory`` on a single worker thread (matplotlib
    figures are reused and must not be drawn from two threads at once)."""

    def __init__(self, pool: asyncpg.Pool, directory: Path, candles: int = 150) -> None:
        self._pool = pool
        self._dir = directory
        self._n = candles
        self._renderer = ChartRenderer()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts")
        directory.mkdir(parents=True, exist_ok=True)

    async def warm_up(self) -> None:
        """Build and draw every figure layout once, so the first confirmation is not slow."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._renderer.warm_up)

    async def for_decision(self, decision: dict[str, Any]) -> Path | None:
        """Render the snapshot for a decision row; ``None`` (logged) if it cannot be drawn."""
        spec = await self._spec(decision)
        if spec is None:
            return None
        return await self.render(spec, f"decision-{decision['id']}.png")

    async def render(self, spec: ChartSpec, name: str) -> Path:
        """Draw ``spec`` to ``<directory>/<name>`` on the render thread."""
        loop = asyncio.get_running_loop()
        path = self._dir / name
        return await loop.run_in_executor(self._executor, self._renderer.render_to, spec, path)

    async def _spec(self, d: dict[str, Any]) -> ChartSpec | None:
        async with self._pool.acquire() as conn:
            window = await load_window(
                conn, d["venue"], d["symbol"], d["tf"], d["open_time"], self._n
            )
            if window is None:
                log.warning("no candles to chart decision %s", d["id"])
                return None
            markers, zones = await structure_overlays(
                conn, d, window.first, window.low, window.high
            )
        b = d["bracket"]
        levels = [
            Level(float(b["entry_price"]), f"Entry {b['entry_price']}", "entry"),
            Level(float(b["stop_price"]), f"Stop {b['stop_price']}", "stop"),
        ] + [
            Level(float(tp["price"]), f"TP{i} {tp['price']} ({tp['r_multiple']}R)", "target")
            for i, tp in enumerate(b["take_profits"], 1)
        ]
        return ChartSpec(
            title=f"{d['symbol']} {d['tf']} · #D-{d['id']}",
            candles=window.candles,
            lines=window.lines,
            levels=levels,
            zones=zones,
            markers=markers,
        )

    def close(self) -> None:
        """Stop the render thread."""
        self._executor.shutdown(wait=False)
