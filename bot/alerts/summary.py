"""PnL reports (``/pnl``) and the daily summary: realized PnL in quote and R, trades, kill
switch and guard events, equity marked to market and its curve. The bot samples the equity
the router publishes, so the curve needs no other process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.alerts import store
from bot.charting import EquityPoint
from bot.render import fmt_dt, fmt_money, fmt_r
from greenlight.core.clock import utc_now

if TYPE_CHECKING:
    from bot.context import BotContext

log = logging.getLogger(__name__)
EQUITY_KEYS = {"spot": "equity_quote", "usdm": "equity_quote_usdm"}
MAX_TRADES_LISTED = 10


@dataclass(frozen=True)
class Report:
    """Text and the equity curve."""

    text: str
    image: Path | None


async def sample_equity(pool: asyncpg.Pool) -> int:
    """Store the router's latest marked-to-market equity of each market (once per update)."""
    async with pool.acquire() as conn:
        result = await conn.execute(
            "INSERT INTO equity_samples (market, at, equity) SELECT m.market, c.updated_at,"
            " (c.value #>> '{}')::numeric FROM control c JOIN (VALUES ('spot', 'equity_quote'),"
            " ('usdm', 'equity_quote_usdm')) AS m(market, key) ON m.key = c.key"
            " ON CONFLICT DO NOTHING"
        )
    return int(result.split()[-1])


async def _trades(conn: asyncpg.Connection, since: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, symbol, market, realized_pnl, (bracket->>'risk_quote')::numeric AS risk"
        " FROM decisions WHERE state = 'CLOSED' AND closed_at >= $1 ORDER BY closed_at",
        since,
    )
    return [dict(r) for r in rows]


async def _events(conn: asyncpg.Connection, since: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT created_at, coalesce(event, kind) AS event, text FROM alerts"
        " WHERE created_at >= $1 AND (kind IN ('kill', 'resume') OR event = 'guard')"
        " ORDER BY id",
        since,
    )
    return [dict(r) for r in rows]


async def _points(conn: asyncpg.Connection, since: datetime, now: datetime) -> list[EquityPoint]:
    rows = await conn.fetch(
        "SELECT market, at, equity FROM equity_samples WHERE at >= $1 ORDER BY at", since
    )
    before = await conn.fetch(
        "SELECT DISTINCT ON (market) market, at, equity FROM equity_samples WHERE at < $1"
        " ORDER BY market, at DESC",
        since,
    )
    points = [EquityPoint(since, r["market"], float(r["equity"])) for r in before]
    points += [EquityPoint(r["at"], r["market"], float(r["equity"])) for r in rows]
    # each curve runs on to now at its last value
    last = {p.market: p for p in points}
    return points + [EquityPoint(now, m, p.equity) for m, p in last.items() if p.at < now]


def _r(t: dict[str, Any]) -> float | None:
    risk = t["risk"]
    return float(t["realized_pnl"] / risk) if risk and t["realized_pnl"] is not None else None


async def build(ctx: BotContext, since: datetime, title: str) -> Report:
    """The report for everything since ``since``, up to now by ``ctx.clock``."""
    await sample_equity(ctx.pool)
    async with ctx.pool.acquire() as conn:
        trades = await _trades(conn, since)
        events = await _events(conn, since)
        points = await _points(conn, since, utc_now(ctx.clock))
    pnl = sum((t["realized_pnl"] or Decimal(0) for t in trades), Decimal(0))
    rs = [r for t in trades if (r := _r(t)) is not None]
    won = sum(1 for t in trades if (t["realized_pnl"] or 0) > 0)
    lines = [
        f"📊 {title} · since {fmt_dt(since, ctx.tz)}",
        f"Realized {fmt_money(pnl, signed=True)} · {fmt_r(sum(rs) if rs else None)}"
        f" over {len(trades)} trade(s), {won} won, {len(trades) - won} lost",
    ]
    latest: dict[str, EquityPoint] = {p.market: p for p in points}
    for market, p in latest.items():
        lines.append(f"Equity {fmt_money(p.equity)} {market} (marked to market)")
    for t in trades[-MAX_TRADES_LISTED:]:
        lines.append(
            f"  #D-{t['id']} {t['symbol']} {fmt_money(t['realized_pnl'] or 0, signed=True)}"
            f" ({fmt_r(_r(t))})"
        )
    if events:
        lines.append("Kill switch and guards:")
        lines += [f"  {fmt_dt(e['created_at'], ctx.tz)[11:]} {e['text']}" for e in events[-8:]]
    image = await ctx.charts.equity(f"Equity · {title}", points)
    return Report("\n".join(lines), image)


async def daily(ctx: BotContext) -> int | None:
    """Write the daily summary as an alert (``summary``) for every chat; delivery sends it
    with its chart, once per chat, unless the chat muted ``summary``."""
    now = utc_now(ctx.clock)
    async with ctx.pool.acquire() as conn:
        done = await conn.fetchval(
            "SELECT 1 FROM alerts WHERE event = 'summary' AND created_at > $1",
            now - timedelta(hours=20),
        )
    if done:
        return None  # already written today (e.g. a restart at the summary hour)
    report = await build(ctx, now - timedelta(days=1), "Daily summary")
    async with ctx.pool.acquire() as conn:
        return await store.insert_alert(
            conn, "summary", report.text, image=str(report.image) if report.image else None
        )
