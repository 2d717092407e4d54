"""The bot's chart maker: decision snapshots (:mod:`bot.snapshot`), stream snapshots marking
the event being alerted, a trade from entry to exit, and equity curves. Everything renders on
the one chart thread."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import asyncpg

from bot.snapshot import DecisionCharts, load_window, structure_overlays
from charts.equity import render_equity_png
from charts.spec import ChartSpec, Level, Marker, MarkerKind
from greenlight.core.settings import TIMEFRAMES_MS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Highlight:
    """What an alert chart marks: a title suffix and labelled horizontal levels."""

    label: str
    levels: tuple[tuple[float, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class EquityPoint:
    """One equity sample of one market."""

    at: datetime
    market: str
    equity: float


class BotCharts(DecisionCharts):
    """Implements :class:`bot.context.ChartMaker`."""

    def __init__(
        self, pool: asyncpg.Pool, directory: Path, candles: int = 150, tz: str = "UTC"
    ) -> None:
        super().__init__(pool, directory, candles)
        self._tz = tz

    async def for_stream(
        self, venue: str, symbol: str, tf: str, at: int | None, highlight: Highlight | None
    ) -> Path | None:
        """Candles up to ``at`` with EMAs, the structure and zones known then, and the
        highlighted levels."""
        async with self._pool.acquire() as conn:
            window = await load_window(conn, venue, symbol, tf, at, self._n)
            if window is None:
                return None
            last = int(window.candles.open_time[-1])
            d = {"venue": venue, "symbol": symbol, "tf": tf, "open_time": last}
            markers, zones = await structure_overlays(
                conn, d, window.first, window.low, window.high
            )
        levels = [Level(p, text, "other") for p, text in (highlight.levels if highlight else ())]
        label = f" · {highlight.label}" if highlight else ""
        spec = ChartSpec(
            title=f"{symbol} {tf}{label}",
            candles=window.candles,
            lines=window.lines,
            levels=levels,
            zones=zones,
            markers=markers,
        )
        digest = hashlib.sha1(label.encode()).hexdigest()[:8]
        return await self.render(spec, f"stream-{venue}-{symbol}-{tf}-{last}-{digest}.png")

    async def for_trade(self, decision: dict[str, Any]) -> Path | None:
        """The trade's candles from before the entry to after the last fill, with entry,
        stop, targets and every exit price, a ▲/▼ at each fill's candle, and the PnL in
        the title."""
        tf_ms = TIMEFRAMES_MS.get(decision["tf"], 60_000)
        async with self._pool.acquire() as conn:
            fills = await conn.fetch(
                "SELECT f.price, f.quantity, f.trade_time, o.leg FROM fills f JOIN orders o"
                " USING (client_order_id) WHERE f.decision_id = $1 ORDER BY f.trade_time",
                decision["id"],
            )
            end = max([int(decision["open_time"])] + [int(f["trade_time"]) for f in fills])
            window = await load_window(
                conn, decision["venue"], decision["symbol"], decision["tf"], end + tf_ms, self._n
            )
        if window is None:
            return None
        spec = ChartSpec(
            title=_trade_title(decision),
            candles=window.candles,
            lines=window.lines,
            levels=trade_levels(decision, fills),
            markers=fill_markers(decision, fills, tf_ms),
        )
        return await self.render(spec, f"trade-{decision['id']}.png")

    async def equity(self, title: str, points: list[EquityPoint]) -> Path | None:
        """Equity per market over time."""
        if not points:
            return None
        series: dict[str, Sequence[tuple[datetime, float]]] = {}
        for p in points:
            cast(list[tuple[datetime, float]], series.setdefault(p.market, [])).append(
                (p.at, p.equity)
            )
        slug = hashlib.sha1(f"{title}{points[-1].at}".encode()).hexdigest()[:10]
        path = self._dir / f"equity-{slug}.png"
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(
            self._executor, render_equity_png, title, series, self._tz
        )
        await asyncio.to_thread(_write_atomic, path, data)
        return path


def _trade_title(d: dict[str, Any]) -> str:
    pnl = d.get("realized_pnl")
    tail = f" · PnL {float(pnl):+,.2f}" if pnl is not None else ""
    return f"{d['symbol']} {d['tf']} · #D-{d['id']} {d['state'].lower()}{tail}"


def trade_levels(d: dict[str, Any], fills: list[Any]) -> list[Level]:
    """Entry, stop and targets of the decision's bracket, and the average price of every
    exit leg that did not fill at its own level (legs at one price share a label)."""
    b = d["bracket"]
    levels = [
        Level(float(b["entry_price"]), f"Entry {b['entry_price']}", "entry"),
        Level(float(b["stop_price"]), f"Stop {b['stop_price']}", "stop"),
    ] + [
        Level(float(tp["price"]), f"TP{i} {tp['price']}", "target")
        for i, tp in enumerate(b["take_profits"], 1)
    ]
    exits: dict[str, list[Any]] = {}
    for f in fills:
        if f["leg"] != "E":
            exits.setdefault(f["leg"], []).append(f)
    planned = {f"TP{i}": float(tp["price"]) for i, tp in enumerate(b["take_profits"], 1)}
    at_price: dict[str, tuple[float, list[str]]] = {}  # one label per price as printed
    for leg, rows in exits.items():
        avg = _average(rows)
        own = float(b["stop_price"]) if leg.startswith("SL") else planned.get(leg)
        if own is not None and math.isclose(avg, own, rel_tol=1e-9):
            continue  # filled at its own level: that level's label and the ▲/▼ say it
        at_price.setdefault(f"{avg:,.6g}", (avg, []))[1].append(leg)
    for shown, (avg, legs) in at_price.items():
        levels.append(Level(avg, f"Exit {' '.join(legs)} {shown}", "other"))
    return levels


def fill_markers(d: dict[str, Any], fills: list[Any], tf_ms: int) -> list[Marker]:
    """A ▲ (buy) or ▼ (sell) at the average price of each leg's fills in one candle."""
    entry_kind: MarkerKind = "buy" if d["bracket"]["side"] == "BUY" else "sell"
    exit_kind: MarkerKind = "sell" if entry_kind == "buy" else "buy"
    groups: dict[tuple[str, int], list[Any]] = {}
    for f in fills:
        groups.setdefault((f["leg"], int(f["trade_time"]) // tf_ms * tf_ms), []).append(f)
    return [
        Marker(t, _average(rows), leg, entry_kind if leg == "E" else exit_kind)
        for (leg, t), rows in groups.items()
    ]


def _average(rows: list[Any]) -> float:
    qty = sum(float(r["quantity"]) for r in rows)
    return sum(float(r["price"]) * float(r["quantity"]) for r in rows) / qty


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
