"""The periodic side of reconciliation: spot what the venue knows and the database does not.

A fill the user stream lost without a disconnect triggers no reconnect, so nothing else
would ever look at it. Every ``router.reconcile_interval_s`` the router therefore reads each
live decision's orders from the venue (read-only, no lock) and marks the decisions whose
orders differ: a status or executed quantity the database does not have, fills missing, an
order the venue never received (once its request can no longer be in flight). Only those are
then reconciled for real, a short grace later, so that an event still travelling on a healthy
stream is not mistaken for a lost one.
"""

from __future__ import annotations

import logging

import asyncpg

from router.core import Core
from router.errors import VenueError
from router.venues.base import TERMINAL_STATUSES

log = logging.getLogger(__name__)


async def suspects(core: Core, live: list[asyncpg.Record], unknown: set[str]) -> set[int]:
    """Ids of live decisions whose orders differ from the venue (``unknown``: client ids
    already reported as unknown to the venue, not suspected again)."""
    found: set[int] = set()
    for decision in live:
        try:
            if await _differs(core, decision, unknown):
                found.add(decision["id"])
        except VenueError as exc:
            core.note_error(f"periodic check #D-{decision['id']}: {exc.describe()}")
    return found


async def _differs(core: Core, decision: asyncpg.Record, unknown: set[str]) -> bool:
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT o.*, (SELECT coalesce(sum(f.quantity), 0) FROM fills f"
            " WHERE f.client_order_id = o.client_order_id) AS recorded,"
            " extract(epoch FROM clock_timestamp() - o.created_at)::float8 AS age"
            " FROM orders o WHERE o.decision_id = $1 ORDER BY o.id",
            decision["id"],
        )
    market = core.market(decision["market"])
    settle = market.sender.settle_s
    for row in rows:
        if row["status"] in TERMINAL_STATUSES:
            if row["recorded"] < row["filled_quantity"]:
                return True  # executed on the venue, fills never arrived
            continue
        view = await market.venue_view(row)
        if view is None:
            if row["status"] == "NEW_PENDING":
                if row["age"] > settle:
                    return True  # provably never placed: reconciliation decides
                continue  # its request may still be in flight
            if row["client_order_id"] not in unknown:
                return True
            continue
        if view != (row["status"], row["filled_quantity"]):
            ours = (row["status"], row["filled_quantity"])
            log.info("periodic check: %s venue %s, db %s", row["client_order_id"], view, ours)
            return True
    return False
