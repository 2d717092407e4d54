"""The shared rows every process reads or writes (asyncpg, one function per statement): the
hash-chained audit log, the chat alerts queue, the equity the router publishes, and the
``NOTIFY`` that tells another process which row to read.

The engine, the bot and the router each keep their own reads and writes beside their code
(``engine/store.py``, ``bot/queries.py``, ``router/store.py``); what is here is used by more
than one of them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core.contracts import NotifyChannel

EQUITY_KEYS = {"spot": "equity_quote", "usdm": "equity_quote_usdm"}


async def audit(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    decision_id: int | None,
    detail: dict[str, Any],
) -> None:
    """Append a row to the hash-chained audit log."""
    await conn.execute("SELECT audit_append($1, $2, $3, $4)", actor, action, decision_id, detail)


async def alert(conn: asyncpg.Connection, kind: str, text: str) -> int:
    """Queue a short message for every chat channel (``alerts``) and notify ``gl_alerts``."""
    alert_id: int = await conn.fetchval(
        "INSERT INTO alerts (kind, text) VALUES ($1, $2) RETURNING id", kind, text
    )
    await notify(conn, NotifyChannel.ALERTS, alert_id)
    return alert_id


async def notify(conn: asyncpg.Connection, channel: NotifyChannel, row_id: int) -> None:
    """``NOTIFY channel`` naming the row ``row_id`` (sent when the transaction commits)."""
    await conn.execute("SELECT pg_notify($1, $2)", channel.value, str(row_id))


async def equity_quote(conn: asyncpg.Connection, market: str = "spot") -> Decimal | None:
    """Account equity in the quote asset for ``market``, as last published by the router."""
    value = await conn.fetchval("SELECT value FROM control WHERE key = $1", EQUITY_KEYS[market])
    return Decimal(str(value)) if value is not None else None
