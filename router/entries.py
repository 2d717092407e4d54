"""Working entries, every second: the time-to-live of those whose market lets an entry
rest (a spot LIMIT entry's unfilled remainder is cancelled once the decision expired), and a
look at every working entry on the venue, so that fills a silent user stream lost are still
protected."""

from __future__ import annotations

import logging

from router import lifecycle
from router.core import Core
from router.errors import VenueError
from router.reports import apply_report

log = logging.getLogger(__name__)


async def expire_entries(core: Core) -> int:
    """Cancel the unfilled remainder of working entries whose decision has expired."""
    markets = [m.name for m in core.markets.values() if m.entries_expire]
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT o.* FROM orders o JOIN decisions d ON d.id = o.decision_id"
            " WHERE d.state IN ('ROUTED', 'OPEN') AND d.market = ANY($1::text[])"
            " AND o.leg = 'E' AND d.expires_at <= now()"
            " AND o.status IN ('NEW', 'PARTIALLY_FILLED')",
            markets,
        )
    for row in rows:
        async with core.locked(row["decision_id"]) as snap:
            if snap is None:
                continue
            await core.market(snap.market).expire_entry(snap, row)
            await lifecycle.advance_locked(core, snap.id)
    return len(rows)


async def refresh_entries(core: Core) -> int:
    """Query every working entry; apply and alert what the user stream did not bring."""
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT o.* FROM orders o JOIN decisions d ON d.id = o.decision_id"
            " WHERE d.state IN ('ROUTED', 'OPEN') AND o.leg = 'E'"
            " AND o.status IN ('NEW', 'PARTIALLY_FILLED')"
        )
    changed = 0
    for row in rows:
        market = core.market(row["market"])
        try:
            report = await market.query_order(row["symbol"], row["client_order_id"])
        except VenueError as exc:
            core.note_error(f"entry check {row['client_order_id']}: {exc.describe()}")
            continue
        async with core.locked(row["decision_id"]) as snap:
            now = snap.order(row["client_order_id"]) if snap is not None else None
            if snap is None or now is None:
                continue
            if (report.status, report.executed_qty) == (now["status"], now["filled_quantity"]):
                continue  # nothing missed (or the stream caught up meanwhile)
            changed += 1
            await apply_report(core, snap, report, fetch_trades=True)
            was = f"{now['status']} {now['filled_quantity']}"
            text = (
                f"🔄 Reconciled #D-{snap.id} entry: {was} → {report.status}"
                f" {report.executed_qty} (ahead of the user stream)"
            )
            await core.alert("info", text, snap.id)
            await lifecycle.advance_locked(core, snap.id)
    return changed
