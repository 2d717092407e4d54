"""Equity already promised to decisions, so that one candle's signals never size on the same
balance twice.

A decision that is pending, approved, routed or open holds the quote it costs to open —
spot the notional, USD-M the initial margin (notional / leverage) — until it ends. A new
bracket is sized on the equity left after those. Deciders take a transaction-scoped
advisory lock per market first, so concurrent streams (and engine processes) size one after
the other, each seeing the decisions the others wrote.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

COMMITTED_STATES = ("PENDING", "APPROVED", "ROUTED", "OPEN")
_LOCK_NAMESPACE = "greenlight.sizing."


async def committed_quote(conn: asyncpg.Connection, market: str) -> Decimal:
    """Quote held by the ``market``'s decisions that are pending or open."""
    value = await conn.fetchval(
        "SELECT coalesce(sum((bracket->>'quantity')::numeric * (bracket->>'entry_price')::numeric"
        " / greatest(coalesce((bracket->>'leverage')::numeric, 1), 1)), 0)"
        " FROM decisions WHERE market = $1 AND state = ANY($2::text[])",
        market,
        list(COMMITTED_STATES),
    )
    return Decimal(value)


async def uncommitted_equity(conn: asyncpg.Connection, market: str, equity: Decimal) -> Decimal:
    """``equity`` less what the ``market``'s pending and open decisions hold.

    Call inside the transaction that writes the decision: it takes the market's sizing lock
    until that transaction ends.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _LOCK_NAMESPACE + market)
    return equity - await committed_quote(conn, market)
