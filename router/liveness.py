"""Nothing is stuck: a bounded way out of every state that waits on something outside.

- ``PENDING`` past its time-to-live → ``EXPIRED`` (the bot does the same; whichever runs
  first wins the guarded ``UPDATE``).
- ``APPROVED`` past its time-to-live → ``EXPIRED``, with an alert naming the approver: the
  approval never reached the venue (router down, trading halted) and nothing was sent.
  An unexpired ``APPROVED`` decision is handed over by the router's sweep (and by the bot on
  its start), so an approval committed just before a crash is not lost.
- ``ROUTED`` with nothing on the venue ``router.routed_timeout_s`` after routing → ``FAILED``
  with the reason. "Nothing" is proven: the entry is queried by client id, and once more after
  the send window (recvWindow) so that a request still travelling cannot land afterwards. A
  venue that cannot answer proves nothing, so the decision waits for it (noted as an error).
  An entry the venue has is the entry's business (fills, time-to-live, rejection), not ours.

``OPEN`` ends through its exits, which periodic reconciliation reads from the venue even when
the user stream loses them (:mod:`router.reconcile_check`).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from greenlight.core.lifecycle import Event, State
from router import lifecycle, store
from router.core import Core
from router.errors import OrderNotFoundError, VenueError
from router.markets.base import Market
from router.reports import NEVER_REACHED, apply_report, mark_order
from router.venues.base import OrderReport

log = logging.getLogger(__name__)
WORKING = ("NEW", "PARTIALLY_FILLED", "PENDING_NEW")  # an entry resting on the venue
NOT_IN_TIME = "approved, but its time-to-live ran out before it reached the venue"


async def expire_due(core: Core) -> list[int]:
    """PENDING and APPROVED decisions past their time-to-live → EXPIRED; return their ids."""
    async with core.pool.acquire() as conn:
        due = await conn.fetch(
            "SELECT id, state, symbol, decided_by FROM decisions"
            " WHERE state IN ('PENDING', 'APPROVED') AND expires_at <= now() ORDER BY id"
        )
    expired: list[int] = []
    for d in due:
        approved = d["state"] == "APPROVED"
        extra = {"failure_reason": NOT_IN_TIME} if approved else {}
        async with core.pool.acquire() as conn, conn.transaction():
            row = await store.transition(conn, d["id"], Event.EXPIRE, [State(d["state"])], **extra)
            if row is None:
                continue  # routed, decided or cancelled meanwhile
            if approved:
                await store.alert(conn, "expired", approved_expired_text(d), d["id"])
        expired.append(d["id"])
    return expired


def approved_expired_text(d: asyncpg.Record) -> str:
    """The message to the approver of an approval that outlived its time-to-live."""
    by = d["decided_by"] or "someone"
    return (
        f"⌛ #D-{d['id']} {d['symbol']}: approved by {by}, but its time-to-live ran out"
        " before it reached the exchange (router unavailable or trading halted) — expired,"
        " nothing was sent"
    )


async def fail_unrouted(core: Core) -> list[int]:
    """ROUTED decisions with nothing on the venue ``routed_timeout_s`` after routing →
    FAILED with the reason; return their ids. One whose entry is working on the venue is
    left to the entry (fills, time-to-live); one whose entry already ended, or filled, but
    that was never moved on (a crash in between) is moved on now."""
    async with core.pool.acquire() as conn:
        stale = await conn.fetch(
            "SELECT d.id FROM decisions d WHERE d.state = 'ROUTED'"
            " AND d.routed_at <= now() - make_interval(secs => $1) AND NOT EXISTS"
            " (SELECT 1 FROM orders o WHERE o.decision_id = d.id AND o.leg = 'E'"
            "  AND o.status = ANY($2::text[])) ORDER BY d.id",
            core.routed_timeout_s,
            list(WORKING),
        )
    failed: list[int] = []
    for r in stale:
        try:
            if await _fail_if_nothing(core, r["id"]):
                failed.append(r["id"])
        except VenueError as exc:
            core.note_error(f"#D-{r['id']} routed, entry not confirmed: {exc.describe()}")
    return failed


async def _fail_if_nothing(core: Core, decision_id: int) -> bool:
    """Under the decision's lock: fail it if nothing reached the venue (``True``), else adopt
    what the venue has and move the decision on."""
    async with core.locked(decision_id) as snap:
        if snap is None or snap.state != "ROUTED":
            return False
        entry = snap.entry
        reason = f"{NEVER_REACHED} within {core.routed_timeout_s:g}s of routing"
        if entry is None:
            return await _fail_without_orders(core, decision_id, reason)
        if entry["status"] == "NEW_PENDING":
            report = await _entry_on_venue(core.market(snap.market), entry)
            if report is None:
                for row in snap.orders:  # the entry and, for an OTOCO, its pending legs
                    if row["status"] == "NEW_PENDING":
                        await mark_order(core, snap, row["client_order_id"], "REJECTED", reason)
            else:  # it did arrive: adopt it, the entry's own path goes on
                await apply_report(core, snap, report, acked=True)
        await lifecycle.advance_locked(core, decision_id)  # an empty entry → FAILED, alerted
        after = await core.snapshot(decision_id)
    return after.state == "FAILED"


async def _entry_on_venue(market: Market, entry: asyncpg.Record) -> OrderReport | None:
    """The venue's report of the entry, ``None`` once it provably never arrived."""
    for attempt in range(2):
        try:
            return await market.query_order(entry["symbol"], entry["client_order_id"])
        except OrderNotFoundError:
            if attempt == 0:  # a request that ended in an unknown outcome may still land
                await asyncio.sleep(market.sender.settle_s)
    return None


async def _fail_without_orders(core: Core, decision_id: int, reason: str) -> bool:
    async with core.pool.acquire() as conn, conn.transaction():
        row = await store.transition(
            conn, decision_id, Event.FAIL, [State.ROUTED], failure_reason=reason
        )
        if row is not None:
            await store.alert(conn, "error", f"⚠️ #D-{decision_id} failed: {reason}", decision_id)
    return row is not None
