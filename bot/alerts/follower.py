"""Market alerts from the analysis rows the engine writes: for every watched stream, each new
candle's BOS / CHOCH (``smc_events``), new order blocks and fair value gaps (``zones``), first
retest of a live zone, and regime change (``regimes``) become alerts with one chart marking
them. The engine writes a candle and its analysis in one transaction, and the database wakes
the bot (``gl_candles``) when it commits.

Guard changes are followed the same way, from ``guard_state``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg

from bot.alerts import store
from bot.charting import Highlight
from bot.context import BotContext
from bot.render import fmt_time

log = logging.getLogger(__name__)
MAX_CANDLES = 5  # after a long pause, alert only the newest candles (the rest is history)
_EVENTS_SQL = """
SELECT open_time, kind, level FROM smc_events
WHERE venue=$1 AND symbol=$2 AND tf=$3 AND open_time > $4 AND open_time <= $5"""
_ZONES_SQL = """
SELECT known_time, kind, direction, top, bottom FROM zones
WHERE venue=$1 AND symbol=$2 AND tf=$3 AND known_time > $4 AND known_time <= $5"""
_REGIMES_SQL = """
SELECT r.open_time, r.regime, (SELECT p.regime FROM regimes p WHERE p.venue=r.venue
  AND p.symbol=r.symbol AND p.tf=r.tf AND p.open_time < r.open_time
  ORDER BY p.open_time DESC LIMIT 1) AS previous
FROM regimes r WHERE venue=$1 AND symbol=$2 AND tf=$3 AND open_time > $4 AND open_time <= $5"""
# A retest: the first candle since the zone became known whose range touches it, while the
# zone is still live (not mitigated before, not expired).
_RETESTS_SQL = """
SELECT c.open_time, z.kind, z.direction, z.top, z.bottom FROM candles c
JOIN zones z ON z.venue=c.venue AND z.symbol=c.symbol AND z.tf=c.tf
  AND z.known_time < c.open_time
  AND (z.mitigated_time IS NULL OR z.mitigated_time >= c.open_time)
  AND (z.expired_time IS NULL OR z.expired_time > c.open_time)
  AND z.bottom <= c.high AND z.top >= c.low
WHERE c.venue=$1 AND c.symbol=$2 AND c.tf=$3 AND c.open_time > $4 AND c.open_time <= $5
  AND NOT EXISTS (SELECT 1 FROM candles p WHERE p.venue=c.venue AND p.symbol=c.symbol
    AND p.tf=c.tf AND p.open_time > z.known_time AND p.open_time < c.open_time
    AND p.low <= z.top AND p.high >= z.bottom)"""


@dataclass(frozen=True)
class MarketEvent:
    """One thing worth an alert on one candle."""

    event: str  # bos | choch | ob | fvg | retest | regime
    text: str
    label: str  # for the chart title
    level: float | None = None


def _price(x: float) -> str:
    return f"{x:,.6g}" if x < 1000 else f"{x:,.2f}".rstrip("0").rstrip(".")


async def market_events(
    conn: asyncpg.Connection, stream: store.Stream, after: int, until: int
) -> dict[int, list[MarketEvent]]:
    """Events of candles in ``(after, until]``, by candle open time."""
    _, symbol, tf = stream
    name = f"{symbol} {tf}"
    out: dict[int, list[MarketEvent]] = defaultdict(list)
    args = (*stream, after, until)
    for r in await conn.fetch(_EVENTS_SQL, *args):
        kind = str(r["kind"])
        arrow = "↑" if kind.endswith("UP") else "↓"
        word = "BOS" if kind.startswith("BOS") else "CHOCH"
        level = float(r["level"])
        icon = "📈" if arrow == "↑" else "📉"
        text = f"{icon} {name} {word} {arrow} through {_price(level)}"
        out[r["open_time"]].append(MarketEvent(word.lower(), text, f"{word} {arrow}", level))
    for r in await conn.fetch(_ZONES_SQL, *args):
        kind = str(r["kind"])
        bull = r["direction"] == "bullish"
        span = f"{_price(r['bottom'])}–{_price(r['top'])}"
        text = (
            f"{'🟩' if bull else '🟥'} {name} new {'bullish' if bull else 'bearish'} {kind} {span}"
        )
        mid = (float(r["top"]) + float(r["bottom"])) / 2
        out[r["known_time"]].append(MarketEvent(kind.lower(), text, f"new {kind}", mid))
    for r in await conn.fetch(_RETESTS_SQL, *args):
        span = f"{_price(r['bottom'])}–{_price(r['top'])}"
        text = f"🎯 {name} retest of {r['direction']} {r['kind']} {span}"
        mid = (float(r["top"]) + float(r["bottom"])) / 2
        out[r["open_time"]].append(MarketEvent("retest", text, f"retest {r['kind']}", mid))
    for r in await conn.fetch(_REGIMES_SQL, *args):
        was = r["previous"] or "n/a"
        text = f"🌡️ {name} regime {was} → {r['regime']}"
        out[r["open_time"]].append(MarketEvent("regime", text, f"regime {r['regime']}"))
    return out


class MarketFollower:
    """Turns new candles of watched streams into market alerts."""

    def __init__(self, ctx: BotContext) -> None:
        self._ctx = ctx

    async def run_once(self) -> int:
        """Alert every watched stream's new candles; return how many alerts were written."""
        written = 0
        async with self._ctx.pool.acquire() as conn:
            cursors = await store.watched_streams(conn)
        for stream, cursor in cursors.items():
            try:
                written += await self._stream(stream, cursor)
            except Exception:
                log.exception("market alerts of %s failed", stream)
        return written

    async def _stream(self, stream: store.Stream, cursor: int) -> int:
        async with self._ctx.pool.acquire() as conn:
            latest = await conn.fetchval(
                "SELECT open_time FROM feature_state WHERE venue=$1 AND symbol=$2 AND tf=$3",
                *stream,
            )
            if latest is None or latest <= cursor:
                return 0
            events = await market_events(conn, stream, cursor, int(latest))
        written = 0
        for t in sorted(events)[-MAX_CANDLES:]:
            written += await self._alert(stream, t, events[t])
        async with self._ctx.pool.acquire() as conn:
            await store.move_cursor(conn, stream, int(latest))
        return written

    async def _alert(self, stream: store.Stream, t: int, events: list[MarketEvent]) -> int:
        labels = " · ".join(dict.fromkeys(e.label for e in events))
        levels = tuple((e.level, e.label) for e in events if e.level is not None)
        chart = await self._ctx.charts.for_stream(*stream, t, Highlight(labels, levels))
        by_event: dict[str, list[str]] = defaultdict(list)
        for e in events:
            by_event[e.event].append(e.text)
        when = fmt_time(t, self._ctx.tz)
        n = 0
        async with self._ctx.pool.acquire() as conn:
            for event, texts in by_event.items():
                text = "\n".join(texts) + f" · candle {when}"
                image = str(chart) if chart else None
                alert = await store.insert_alert(
                    conn, event, text, stream=stream, open_time=t, image=image
                )
                n += alert is not None
        return n


class GuardFollower:
    """Alerts when a guard's row in ``guard_state`` changes (switched on or off, or its
    status / verdict). What was last seen is kept in ``control.bot_guard_seen``, so a restart
    neither repeats nor misses a change. It reads whichever of the known columns the table
    has (``enabled``/``status``, or a verdict per stream: ``venue``/``symbol``/``state``/
    ``blocking``/``reason``), so it follows the guards stage as that evolves."""

    def __init__(self, ctx: BotContext) -> None:
        self._ctx = ctx

    async def run_once(self) -> int:
        """Compare ``guard_state`` with what was last seen; alert each change."""
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            now = {_guard_key(r): _guard_view(r) for r in await conn.fetch(_GUARDS_SQL)}
            seen = await conn.fetchval(
                "SELECT value FROM control WHERE key = 'bot_guard_seen' FOR UPDATE"
            )
            before = json.loads(seen) if isinstance(seen, str) else seen
            if before == now:
                return 0
            await conn.execute(
                "INSERT INTO control (key, value, updated_by) VALUES ('bot_guard_seen', $1, 'bot')"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                " updated_at = clock_timestamp()",
                now,
            )
            if before is None:
                return 0  # first run: the baseline
            n = 0
            for key, view in now.items():
                if before.get(key) != view:
                    text = _guard_text(key, before.get(key), view)
                    n += await store.insert_alert(conn, "guard", text) is not None
            return n


_GUARDS_SQL = "SELECT to_jsonb(g) AS row FROM guard_state g"
_KEY_COLUMNS = ("name", "symbol")
_VIEW_COLUMNS = ("enabled", "status", "state", "blocking", "reason")


def _guard_key(r: Any) -> str:
    row = r["row"]
    return " ".join(str(row[k]) for k in _KEY_COLUMNS if row.get(k) is not None)


def _guard_view(r: Any) -> dict[str, Any]:
    row = r["row"]
    return {k: row[k] for k in _VIEW_COLUMNS if k in row}


def _guard_text(key: str, was: dict[str, Any] | None, now: dict[str, Any]) -> str:
    status = now.get("status") or now.get("state") or ""
    reason = f" ({now['reason']})" if now.get("reason") else ""
    if was is None:
        return f"🛡️ Guard {key}: {status}{reason}"
    if "enabled" in now and was.get("enabled") != now["enabled"]:
        return f"🛡️ Guard {key} switched {'on' if now['enabled'] else 'OFF'} ({status})"
    before = was.get("status") or was.get("state") or "?"
    return f"🛡️ Guard {key}: {before} → {status}{reason}"
