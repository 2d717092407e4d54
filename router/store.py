"""Router persistence: decisions, orders, control flag, alerts and the audit chain.

Every state change is one atomic ``UPDATE … WHERE state = <expected> RETURNING``; callers
run these inside a transaction together with the audit row and any alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core.contracts import NotifyChannel
from greenlight.core.lifecycle import Event, State, advance
from greenlight.core.store import notify

ACTOR = "router"
# Order statuses ordered by progress; an update never moves an order backwards.
_STATUS_RANK = {"NEW_PENDING": 0, "PENDING_NEW": 1, "NEW": 1, "PARTIALLY_FILLED": 2, "TRIGGERED": 2}
LIVE_STATES = ("ROUTED", "OPEN")


def jsonable(value: Any) -> Any:
    """Turn Decimals (and nested containers of them) into JSON-safe values."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def status_rank(status: str) -> int:
    """Progress rank of an order status (terminal statuses rank highest)."""
    return _STATUS_RANK.get(status, 3)


async def audit(
    conn: asyncpg.Connection, action: str, decision_id: int | None, detail: Mapping[str, Any]
) -> None:
    """Append one row to the hash-chained audit log."""
    await conn.execute(
        "SELECT audit_append($1, $2, $3, $4::jsonb)", ACTOR, action, decision_id, jsonable(detail)
    )


async def alert(conn: asyncpg.Connection, kind: str, text: str, decision_id: int | None) -> int:
    """Insert an alert for the chat channels and notify ``gl_alerts``; return its id."""
    alert_id: int = await conn.fetchval(
        "INSERT INTO alerts (kind, text, decision_id) VALUES ($1, $2, $3) RETURNING id",
        kind,
        text,
        decision_id,
    )
    await notify(conn, NotifyChannel.ALERTS, alert_id)
    return alert_id


async def trading_enabled(conn: asyncpg.Connection) -> bool:
    """The ``control.trading_enabled`` flag (absent means disabled)."""
    value = await conn.fetchval("SELECT value FROM control WHERE key = 'trading_enabled'")
    return value is True


async def set_trading(conn: asyncpg.Connection, enabled: bool, by: str) -> bool:
    """Set the flag; return the previous value."""
    previous = await trading_enabled(conn)
    await conn.execute(
        "INSERT INTO control (key, value, updated_by) VALUES ('trading_enabled', $1::jsonb, $2)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
        " updated_by = EXCLUDED.updated_by, updated_at = clock_timestamp()",
        enabled,
        by,
    )
    return previous


async def claim_for_routing(
    conn: asyncpg.Connection, decision_id: int, routed_at: datetime
) -> asyncpg.Record | None:
    """APPROVED → ROUTED at ``routed_at``, only if unexpired and trading is enabled. Exactly
    one caller wins."""
    return await advance(
        conn,
        decision_id,
        Event.ROUTE,
        ACTOR,
        guard_sql="expires_at > now() AND"
        " (SELECT value FROM control WHERE key = 'trading_enabled') = 'true'::jsonb",
        routed_at=routed_at,
    )


async def transition(
    conn: asyncpg.Connection,
    decision_id: int,
    event: Event,
    only_from: Iterable[State] | None = None,
    **columns: Any,
) -> asyncpg.Record | None:
    """Apply ``event`` to a decision (the router's side of
    :func:`greenlight.core.lifecycle.advance`), setting extra columns; ``None`` when it was not
    in a state the event leaves."""
    return await advance(conn, decision_id, event, ACTOR, only_from=only_from, **columns)


async def get_decision(conn: asyncpg.Connection, decision_id: int) -> asyncpg.Record | None:
    """One decision row."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM decisions WHERE id = $1", decision_id
    )
    return row


@dataclass(frozen=True)
class OrderRow:
    """What the router records about one order before and after sending it."""

    decision_id: int
    client_order_id: str
    list_client_id: str | None
    venue: str
    market: str
    symbol: str
    leg: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None


async def insert_order(conn: asyncpg.Connection, row: OrderRow) -> bool:
    """Record an order as NEW_PENDING before it is sent; ``False`` if it already exists."""
    inserted = await conn.fetchval(
        "INSERT INTO orders (decision_id, client_order_id, list_client_id, venue, market,"
        " symbol, leg, side, order_type, quantity, price, stop_price, status)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,'NEW_PENDING')"
        " ON CONFLICT (client_order_id) DO NOTHING RETURNING id",
        row.decision_id,
        row.client_order_id,
        row.list_client_id,
        row.venue,
        row.market,
        row.symbol,
        row.leg,
        row.side,
        row.order_type,
        row.quantity,
        row.price,
        row.stop_price,
    )
    return inserted is not None


async def update_order(
    conn: asyncpg.Connection,
    client_order_id: str,
    status: str,
    venue_order_id: str | None,
    filled: Decimal,
    cum_quote: Decimal,
    reject_reason: str | None = None,
    acked: bool = False,
) -> asyncpg.Record | None:
    """Apply a venue report to an order row unless it would move the order backwards.

    Returns the row as it was *before* the update when something changed, else ``None``.
    """
    before = await conn.fetchrow(
        "SELECT * FROM orders WHERE client_order_id = $1 FOR UPDATE", client_order_id
    )
    if before is None:
        return None
    old = (before["filled_quantity"], status_rank(before["status"]))
    new = (filled, status_rank(status))
    if new < old or (new == old and before["status"] == status and not acked):
        return None
    await conn.execute(
        "UPDATE orders SET status = $2, venue_order_id = coalesce($3, venue_order_id),"
        " filled_quantity = $4, cum_quote = $5, reject_reason = coalesce($6, reject_reason),"
        " acked_at = CASE WHEN $7 THEN coalesce(acked_at, clock_timestamp()) ELSE acked_at END,"
        " updated_at = clock_timestamp() WHERE client_order_id = $1",
        client_order_id,
        status,
        venue_order_id,
        filled,
        cum_quote,
        reject_reason,
        acked,
    )
    return before


async def orders_for(conn: asyncpg.Connection, decision_id: int) -> list[asyncpg.Record]:
    """All order rows of a decision, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM orders WHERE decision_id = $1 ORDER BY id", decision_id
    )
    return rows


async def live_decisions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Decisions the router is responsible for right now (ROUTED or OPEN)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM decisions WHERE state = ANY($1::text[]) ORDER BY id", list(LIVE_STATES)
    )
    return rows
