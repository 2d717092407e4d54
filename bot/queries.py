"""SQL used by the approval service. Every state change is one guarded statement."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bot.channel import SentMessage
from bot.render import fmt_time
from greenlight.core.lifecycle import Event, State, advance, advance_all


async def decision(conn: asyncpg.Connection, decision_id: int) -> dict[str, Any] | None:
    """One decision row as a dict, or ``None``."""
    row = await conn.fetchrow("SELECT * FROM decisions WHERE id = $1", decision_id)
    return dict(row) if row else None


async def shown(conn: asyncpg.Connection, decision_id: int) -> bool:
    """Whether a confirmation for the decision was already sent."""
    sent = await conn.fetchval(
        "SELECT confirmation_sent_at IS NOT NULL FROM decisions WHERE id = $1", decision_id
    )
    return bool(sent)


async def symbol_steps(conn: asyncpg.Connection, d: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """Tick and step sizes for formatting, inferred from the bracket's own rounded numbers."""
    b = d["bracket"]
    prices = [Decimal(b["entry_price"]), Decimal(b["stop_price"])]
    prices += [Decimal(tp["price"]) for tp in b["take_profits"]]
    tick = min((_ulp(p) for p in prices), default=Decimal("0.01"))
    step = _ulp(Decimal(b["quantity"]))
    return max(tick, Decimal("0.00000001")), step


def _ulp(x: Decimal) -> Decimal:
    exp = x.normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return Decimal(1).scaleb(min(exp, 0))


async def record_sent(conn: asyncpg.Connection, decision_id: int, sent: list[SentMessage]) -> None:
    """Remember where each copy went and when the confirmation was first delivered."""
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO chat_messages (decision_id, channel, chat_id, message_id)"
            " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
            [(decision_id, m.channel, m.chat_id, m.message_id) for m in sent],
        )
        await conn.execute(
            "UPDATE decisions SET confirmation_sent_at = clock_timestamp()"
            " WHERE id = $1 AND confirmation_sent_at IS NULL",
            decision_id,
        )


async def transition_pending(
    conn: asyncpg.Connection,
    decision_id: int,
    action: str,
    actor: str,
    channel: str,
    decided_at: datetime,
) -> bool:
    """PENDING → APPROVED/REJECTED if still pending and unexpired (by the database's clock);
    ``True`` if this call won. ``decided_at`` is the bot's time of the tap."""
    event = Event.APPROVE if action == "approve" else Event.REJECT
    row = await advance(
        conn,
        decision_id,
        event,
        "bot",
        guard_sql="expires_at > clock_timestamp()",
        decided_at=decided_at,
        decided_by=actor,
        decided_via=channel,
    )
    return row is not None


async def why_not_pending(conn: asyncpg.Connection, decision_id: int) -> str:
    """Explain why a decision can no longer be decided."""
    row = await conn.fetchrow(
        "SELECT state, decided_by, decided_at, expires_at, clock_timestamp() AS now"
        " FROM decisions WHERE id = $1",
        decision_id,
    )
    if row is None:
        return "unknown decision"
    if row["state"] == "PENDING" and row["expires_at"] <= row["now"]:
        return "it expired"
    if row["state"] == "EXPIRED":
        return "it expired"
    if row["decided_by"]:
        return f"already {row['state'].lower()} by {row['decided_by']}"
    return f"it is {row['state'].lower()}"


async def record_attempt(
    conn: asyncpg.Connection,
    decision_id: int,
    action: str,
    channel: str,
    user_id: str,
    accepted: bool,
    reason: str | None,
    automatic: bool,
) -> None:
    """Append an approvals row for every attempt, accepted or not."""
    await conn.execute(
        "INSERT INTO approvals (decision_id, action, channel, user_id, accepted, reason, automatic)"
        " SELECT $1,$2,$3,$4,$5,$6,$7 WHERE EXISTS (SELECT 1 FROM decisions WHERE id = $1)",
        decision_id,
        action,
        channel,
        user_id,
        accepted,
        reason,
        automatic,
    )


async def expire_due(conn: asyncpg.Connection) -> list[int]:
    """PENDING → EXPIRED for every decision past its deadline."""
    rows = await advance_all(
        conn,
        Event.EXPIRE,
        "bot",
        "expires_at <= clock_timestamp()",
        only_from=[State.PENDING],
    )
    return [int(r["id"]) for r in rows]


async def unfinalized(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Message copies whose decision is no longer PENDING and that still show buttons."""
    rows = await conn.fetch(
        "SELECT m.id, m.decision_id, m.channel, m.chat_id, m.message_id, d.state, d.decided_by,"
        " d.decided_at, d.updated_at FROM chat_messages m JOIN decisions d ON d.id = m.decision_id"
        " WHERE NOT m.finalized AND d.state <> 'PENDING' ORDER BY m.id"
    )
    return [dict(r) for r in rows]


def outcome_line(r: dict[str, Any], tz: str) -> str:
    """One line saying who decided and when (or that it expired / was cancelled)."""
    state = r["state"]
    when = r["decided_at"] or r["updated_at"]
    at = fmt_time(int(when.timestamp() * 1000), tz) if when else ""
    if state == "EXPIRED":
        return f"⌛ Expired at {at}"
    if state == "CANCELLED" and not r["decided_by"]:
        return f"⛔ Cancelled by the kill switch at {at}"
    verb = "❌ Rejected" if state == "REJECTED" else "✅ Approved"
    return f"{verb} by {r['decided_by']} at {at} (now {state})"


async def mark_finalized(conn: asyncpg.Connection, message_row_id: int) -> None:
    """Remember that a message copy shows its outcome."""
    await conn.execute("UPDATE chat_messages SET finalized = TRUE WHERE id = $1", message_row_id)


async def unshown_pending(conn: asyncpg.Connection) -> list[int]:
    """PENDING decisions that were never shown (e.g. the bot was down when they appeared)."""
    rows = await conn.fetch(
        "SELECT id FROM decisions WHERE state = 'PENDING' AND confirmation_sent_at IS NULL"
        " AND expires_at > clock_timestamp() ORDER BY id"
    )
    return [int(r["id"]) for r in rows]


async def shown_pending(conn: asyncpg.Connection) -> list[int]:
    """PENDING decisions already shown and still open (a bot may have died right after
    showing one, before its auto-approval was committed)."""
    rows = await conn.fetch(
        "SELECT id FROM decisions WHERE state = 'PENDING' AND confirmation_sent_at IS NOT NULL"
        " AND expires_at > clock_timestamp() ORDER BY id"
    )
    return [int(r["id"]) for r in rows]


async def approved(conn: asyncpg.Connection) -> list[int]:
    """APPROVED decisions: committed approvals the router has not taken over yet."""
    rows = await conn.fetch("SELECT id FROM decisions WHERE state = 'APPROVED' ORDER BY id")
    return [int(r["id"]) for r in rows]


async def status_snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Numbers for /status: the kill-switch flag, pending decisions, open positions, working
    orders, and the equity of each market as the router last marked it to market (value and
    when)."""
    trading = await conn.fetchval("SELECT value FROM control WHERE key = 'trading_enabled'")
    pending = await conn.fetch(
        "SELECT id, symbol, expires_at FROM decisions WHERE state = 'PENDING' ORDER BY id"
    )
    positions = await conn.fetch(
        "SELECT decision_id, symbol, side, open_quantity, entry_price FROM positions"
        " WHERE state = 'OPEN' ORDER BY decision_id"
    )
    orders = await conn.fetch(
        "SELECT client_order_id, symbol, side, order_type, quantity, price, stop_price, status"
        " FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED', 'NEW_PENDING', 'PENDING_NEW')"
        " ORDER BY id"
    )
    equity = {
        market: (Decimal(str(r["value"])), r["updated_at"])
        for market, key in (("spot", "equity_quote"), ("usdm", "equity_quote_usdm"))
        if (r := await conn.fetchrow("SELECT value, updated_at FROM control WHERE key=$1", key))
    }
    return {
        "trading": bool(trading),
        "pending": [dict(r) for r in pending],
        "positions": [dict(r) for r in positions],
        "orders": [dict(r) for r in orders],
        "equity": equity,
    }


async def open_positions(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Open positions with the decision's risk and the stream's last close."""
    rows = await conn.fetch(
        "SELECT p.decision_id, p.symbol, p.market, p.side, p.open_quantity, p.entry_price,"
        " d.bracket->>'risk_quote' AS risk, (SELECT c.close FROM candles c WHERE c.venue ="
        " d.venue AND c.symbol = d.symbol AND c.tf = d.tf ORDER BY c.open_time DESC LIMIT 1)"
        " AS last FROM positions p JOIN decisions d ON d.id = p.decision_id"
        " WHERE p.state = 'OPEN' ORDER BY p.decision_id"
    )
    return [dict(r) for r in rows]
