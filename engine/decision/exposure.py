"""Exposure limits the engine applies before proposing: open risk per symbol and in total,
and the realized loss of the day. The router's own checks (and its daily drawdown kill
switch) stay the hard stop; these keep the engine from asking for what should not be done.

Open risk is the loss at the stop, costs included (``bracket.risk_quote``), of every decision
pending, approved, routed or open. The day is the UTC day of the candle being decided on,
and its realized loss that of the decisions opened on that day and closed since — both read
from candle times, so replays give the same answers.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from engine.decision.commitment import COMMITTED_STATES
from greenlight.core.settings import RiskSettings

DAY_MS = 86_400_000


async def open_risk(conn: asyncpg.Connection, market: str) -> tuple[dict[str, Decimal], Decimal]:
    """Open risk per (venue, symbol) key ``"venue:symbol"`` and in total, for ``market``."""
    rows = await conn.fetch(
        "SELECT venue, symbol, sum(coalesce((bracket->>'risk_quote')::numeric, 0)) AS risk"
        " FROM decisions WHERE market = $1 AND state = ANY($2::text[]) GROUP BY venue, symbol",
        market,
        list(COMMITTED_STATES),
    )
    per = {f"{r['venue']}:{r['symbol']}": Decimal(r["risk"]) for r in rows}
    return per, sum(per.values(), Decimal(0))


async def day_realized(conn: asyncpg.Connection, market: str, now_ms: int) -> Decimal:
    """Realized PnL of ``market``'s decisions opened on the UTC day of ``now_ms``."""
    start = now_ms - now_ms % DAY_MS
    value = await conn.fetchval(
        "SELECT coalesce(sum(realized_pnl), 0) FROM decisions WHERE market = $1"
        " AND open_time >= $2 AND open_time < $3 AND realized_pnl IS NOT NULL",
        market,
        start,
        now_ms,
    )
    return Decimal(value)


async def exposure_refusal(
    conn: asyncpg.Connection,
    risk: RiskSettings,
    market: str,
    venue: str,
    symbol: str,
    equity: Decimal,
    new_risk: Decimal,
    now_ms: int,
) -> str | None:
    """Why a new decision risking ``new_risk`` would break a limit, or ``None``."""
    realized = await day_realized(conn, market, now_ms)
    cap = risk.daily_loss_cap * equity
    if -realized >= cap:
        return (
            f"daily realized loss {-realized:.2f} reached the cap {cap:.2f}"
            f" ({risk.daily_loss_cap:%} of equity): no new proposals today"
        )
    per, total = await open_risk(conn, market)
    here = per.get(f"{venue}:{symbol}", Decimal(0))
    sym_cap = risk.max_symbol_risk * equity
    if here + new_risk > sym_cap:
        return (
            f"open risk on {symbol} {here:.2f} + {new_risk:.2f} exceeds {sym_cap:.2f}"
            f" ({risk.max_symbol_risk:%} of equity)"
        )
    total_cap = risk.max_total_risk * equity
    if total + new_risk > total_cap:
        return (
            f"open risk {total:.2f} + {new_risk:.2f} exceeds {total_cap:.2f}"
            f" ({risk.max_total_risk:%} of equity)"
        )
    return None
