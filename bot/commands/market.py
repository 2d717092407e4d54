"""``/chart SYMBOL [TF]``, ``/signals`` and ``/decision N``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from bot import queries
from bot.channel import Reply
from bot.commands.table import Call, Option
from bot.render import confirmation_text, fmt_money, fmt_time
from greenlight.core.clock import utc_now
from greenlight.core.contracts import Bracket

SIGNALS_SHOWN = 8


async def chart(call: Call) -> Reply:
    """The stream's latest candles with EMAs, structure and live zones."""
    stream = call.ctx.stream_of(call.args)
    if isinstance(stream, str):
        return Reply(stream, ok=False)
    venue, symbol, tf = stream
    async with call.ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT c.open_time, c.close, (SELECT regime FROM regimes r WHERE r.venue=c.venue"
            " AND r.symbol=c.symbol AND r.tf=c.tf ORDER BY r.open_time DESC LIMIT 1) AS regime"
            " FROM candles c WHERE venue=$1 AND symbol=$2 AND tf=$3"
            " ORDER BY open_time DESC LIMIT 1",
            venue,
            symbol,
            tf,
        )
    if row is None:
        return Reply(f"No {symbol} {tf} candles yet.", ok=False)
    path = await call.ctx.charts.for_stream(venue, symbol, tf, None, None)
    text = (
        f"{symbol} {tf} · last close {row['close'].normalize():,f} at "
        f"{fmt_time(row['open_time'], call.ctx.tz)} · regime {row['regime'] or 'n/a'}"
    )
    return Reply(text, attachments=(path,) if path else ())


async def signals(call: Call) -> Reply:
    """Recent signals and why each did or did not become a decision."""
    async with call.ctx.pool.acquire() as conn:
        rows = await _recent_signals(conn)
    if not rows:
        return Reply("No signals yet.")
    agent = call.ctx.settings.strategy.agent
    lines = [f"Last {len(rows)} signals (decisions come from the {agent} agent):"]
    for r in rows:
        head = (
            f"{fmt_time(r['open_time'], call.ctx.tz)} {r['symbol']} {r['tf']} {r['side']}"
            f" score {r['score']:.2f} [{r['agent']}]"
        )
        lines.append(f"{head}\n  → {_signal_outcome(r, agent)}")
    return Reply("\n".join(lines))


async def _recent_signals(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT s.id, s.agent, s.symbol, s.tf, s.open_time, s.side, s.score,"
        " d.id AS decision_id, d.state,"
        " (SELECT a.detail->>'reason' FROM audit_log a WHERE a.action = 'signal.skipped'"
        "  AND a.detail->>'signal_id' = s.id::text ORDER BY a.id DESC LIMIT 1) AS skipped"
        " FROM signals s LEFT JOIN decisions d ON d.signal_id = s.id"
        " ORDER BY s.id DESC LIMIT $1",
        SIGNALS_SHOWN,
    )
    return [dict(r) for r in rows]


def _signal_outcome(r: dict[str, Any], agent: str) -> str:
    if r["decision_id"] is not None:
        return f"#D-{r['decision_id']} ({r['state']})"
    if r["skipped"]:
        return f"not taken: {r['skipped']}"
    if not r["agent"].startswith(agent):
        return f"not taken: decisions come from the {agent} agent"
    return "not taken (no reason recorded)"


async def decision(call: Call) -> Reply:
    """A decision's confirmation text, state, outcome and chart."""
    arg = call.args[0].upper().removeprefix("#").removeprefix("D-") if call.args else ""
    if len(call.args) != 1 or not arg.isdigit():
        return Reply("Usage: /decision N (e.g. /decision 12)", ok=False)
    async with call.ctx.pool.acquire() as conn:
        d = await queries.decision(conn, int(arg))
        steps = await queries.symbol_steps(conn, d) if d else None
    if d is None or steps is None:
        return Reply(f"#D-{arg}: unknown decision.", ok=False)
    bracket = Bracket.model_validate(d["bracket"])
    now = utc_now(call.ctx.clock)
    text = confirmation_text(d, bracket, steps[0], steps[1], now, call.ctx.tz)
    lines = text.splitlines()[:-1] + [_state_line(d, call.ctx.tz)]
    traded = d["state"] in ("OPEN", "CLOSED")
    path = await (call.ctx.charts.for_trade(d) if traded else call.ctx.charts.for_decision(d))
    return Reply("\n".join(lines), attachments=(path,) if path else ())


def _state_line(d: dict[str, Any], tz: str) -> str:
    line = f"State: {d['state']}"
    if d["decided_by"]:
        line += f" · decided by {d['decided_by']}"
    if d["failure_reason"]:
        line += f" · {d['failure_reason']}"
    if d["realized_pnl"] is not None:
        line += f" · PnL {fmt_money(d['realized_pnl'], signed=True)}"
    return line


async def pick_symbol(call: Call) -> Sequence[Option]:
    """Buttons for every followed symbol."""
    tf = call.ctx.timeframes()[0]
    return [(f"{s} {tf}", (s, tf)) for s in call.ctx.streams()]


async def pick_decision(call: Call) -> Sequence[Option]:
    """Buttons for the five newest decisions."""
    async with call.ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, symbol, state FROM decisions ORDER BY id DESC LIMIT 5")
    return [(f"#D-{r['id']} {r['symbol']} {r['state']}", (str(r["id"]),)) for r in rows]
