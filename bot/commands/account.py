"""``/status``, ``/positions``, ``/orders`` and ``/pnl``: the account as the router sees it,
equity marked to market from one snapshot (the figure the drawdown guard uses)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot import guard_commands, queries
from bot.alerts import summary
from bot.channel import Reply
from bot.commands.table import Call
from bot.render import fmt_dt, fmt_money, fmt_num, fmt_r
from greenlight.core.clock import utc_now
from greenlight.core.modes import mode_headline

PERIODS = ("today", "week", "month")


async def status(call: Call) -> Reply:
    """Mode first, then trading flag, equity per market, pending decisions, positions, orders."""
    s = call.ctx.settings
    async with call.ctx.pool.acquire() as conn:
        snap = await queries.status_snapshot(conn)
        guards = await guard_commands.status_lines(conn)
    symbols = ", ".join((*s.market.symbols, *s.market.futures_symbols))
    lines = [
        mode_headline(s.general.mode),
        f"Greenlight · venue {s.venue.name} · {symbols} {s.market.timeframe}",
        f"Trading: {'ON' if snap['trading'] else 'OFF (kill switch)'}",
        *equity_lines(snap["equity"], call.ctx.tz),
        f"Pending decisions: {len(snap['pending'])}"
        + "".join(f"\n  #D-{p['id']} {p['symbol']}" for p in snap["pending"]),
        f"Open positions: {len(snap['positions'])}"
        + "".join(
            f"\n  #D-{p['decision_id']} {p['side']} {p['open_quantity'].normalize()} "
            f"{p['symbol']} @ {p['entry_price']}"
            for p in snap["positions"]
        ),
        f"Working orders: {len(snap['orders'])}",
        *guards,
    ]
    return Reply("\n".join(lines))


def equity_lines(equity: dict[str, tuple[Decimal, datetime]], tz: str) -> list[str]:
    """``Equity 9,991.23 USDT spot (marked 12:03 UTC)`` per market that has a snapshot."""
    if not equity:
        return ["Equity: not published yet (the router marks it every few seconds)"]
    names = {"spot": "spot", "usdm": "USD-M"}
    return [
        f"Equity {fmt_money(value)} {names[m]} · marked to market {fmt_dt(at, tz)}"
        for m, (value, at) in equity.items()
    ]


async def positions(call: Call) -> Reply:
    """Open positions with their unrealized PnL at the last close, in quote and R."""
    async with call.ctx.pool.acquire() as conn:
        rows = await queries.open_positions(conn)
    if not rows:
        return Reply("No open positions.")
    lines = [f"Open positions: {len(rows)}"]
    for p in rows:
        qty, entry, last = p["open_quantity"], p["entry_price"], p["last"]
        side = "LONG" if p["side"] == "BUY" else "SHORT"
        head = f"#D-{p['decision_id']} {side} {qty.normalize()} {p['symbol']} @ {entry}"
        if last is None or entry is None:
            lines.append(head)
            continue
        upnl = (last - entry) * qty * (1 if p["side"] == "BUY" else -1)
        risk = Decimal(str(p["risk"])) if p["risk"] else None
        r = float(upnl / risk) if risk else None
        lines.append(f"{head} · now {fmt_num(last)} · {fmt_money(upnl, signed=True)} ({fmt_r(r)})")
    return Reply("\n".join(lines))


async def orders(call: Call) -> Reply:
    """Working orders on the exchange."""
    async with call.ctx.pool.acquire() as conn:
        snap = await queries.status_snapshot(conn)
    rows = snap["orders"]
    if not rows:
        return Reply("No working orders.")
    lines = [f"Working orders: {len(rows)}"] + [
        f"{o['client_order_id']} {o['side']} {o['order_type']} {o['quantity'].normalize()}"
        f" @ {o['price'] or o['stop_price']} ({o['status']})"
        for o in rows
    ]
    return Reply("\n".join(lines))


def period_start(period: str, tz: str, now: datetime) -> datetime:
    """Start of ``today`` / ``week`` (Monday) / ``month`` around ``now``, in the chat's
    timezone."""
    local = now.astimezone(ZoneInfo(tz))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


async def pnl(call: Call) -> Reply:
    """Realized PnL in quote and R over the period, trades, and the equity curve as a PNG."""
    period = call.args[0].lower() if call.args else "today"
    if len(call.args) > 1 or period not in PERIODS:
        return Reply("Usage: /pnl [today|week|month]", ok=False)
    since = period_start(period, call.ctx.tz, utc_now(call.ctx.clock))
    report = await summary.build(call.ctx, since, f"PnL {period}")
    return Reply(report.text, attachments=(report.image,) if report.image else ())
