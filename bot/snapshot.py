"""Chart snapshots for confirmations: the decision's recent candles, EMAs, entry/stop/targets."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from charts.renderer import ChartRenderer
from charts.spec import ChartSpec, Level
from engine.candlefile import CandleArrays

log = logging.getLogger(__name__)


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

    async def for_decision(self, decision: dict[str, Any]) -> Path | None:
        """Render the snapshot for a decision row; ``None`` (logged) if it cannot be drawn."""
        spec = await self._spec(decision)
        if spec is None:
            return None
        path = self._dir / f"decision-{decision['id']}.png"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._renderer.render_to, spec, path)

    async def _spec(self, d: dict[str, Any]) -> ChartSpec | None:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT c.open_time, c.open, c.high, c.low, c.close, c.volume, i.ema20, i.ema50,"
                " i.ema200 FROM candles c LEFT JOIN indicators i USING (venue, symbol, tf,"
                " open_time) WHERE c.venue=$1 AND c.symbol=$2 AND c.tf=$3 AND c.open_time<=$4"
                " ORDER BY c.open_time DESC LIMIT $5",
                d["venue"],
                d["symbol"],
                d["tf"],
                d["open_time"],
                self._n,
            )
        if len(rows) < 2:
            log.warning("no candles to chart decision %s", d["id"])
            return None
        rows = list(reversed(rows))

        def col(name: str) -> np.ndarray:
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
            candles=candles,
            lines={"EMA 20": col("ema20"), "EMA 50": col("ema50"), "EMA 200": col("ema200")},
            levels=levels,
        )

    def close(self) -> None:
        """Stop the render thread."""
        self._executor.shutdown(wait=False)
