"""After the entry: a venue report about one of a decision's orders moves the decision on.

Every step runs under the decision's lock on a :class:`router.snapshot.Snapshot` read under
it. :func:`advance` takes the next step the orders call for — the same on every market:
an entry that ended empty ends the decision (FAILED or CANCELLED), a filled one makes it
OPEN; then the decision's market protects what is open and, once the entry is over, closes
the decision when the position is flat (:class:`router.markets.base.Market`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from greenlight.core.lifecycle import Event, State
from router import store
from router.core import Core
from router.reports import OrderState, apply_order_state, decision_of
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, ExecutionEvent

log = logging.getLogger(__name__)
Apply = Callable[[Snapshot], Awaitable[None]]


async def on_update(core: Core, cid: str, what: str, apply: Apply) -> None:
    """Apply a venue report about our order ``cid`` (``what`` names it in errors) under its
    decision's lock, then move the decision on."""
    decision_id = await decision_of(core, cid, what)
    if decision_id is None:
        return
    async with core.locked(decision_id) as snap:
        if snap is None:
            return
        await apply(snap)
        await advance(core, await core.snapshot(decision_id))


async def on_execution(core: Core, event: ExecutionEvent) -> None:
    """Apply a user-data ``executionReport`` and move the decision on."""
    state = OrderState(
        event.client_order_id,
        event.status,
        event.order_id,
        event.cum_qty,
        event.cum_quote,
        (event.fill,) if event.fill else (),
        reject_reason=None if event.reject_reason == "NONE" else event.reject_reason,
    )

    async def apply(snap: Snapshot) -> None:
        await apply_order_state(core, snap, state)

    await on_update(core, event.client_order_id, "execution report", apply)


async def advance(core: Core, snap: Snapshot) -> None:
    """Take the next step the decision's orders call for: OPEN, protect, CLOSED, FAILED
    (caller holds the decision's lock; ``snap`` was read under it)."""
    if snap.state not in store.LIVE_STATES:
        return
    market = core.market(snap.market)
    entry_done = await entry_progress(core, snap)
    if entry_done is None:
        return
    await market.protect(snap)
    if not entry_done:
        return
    await market.close_when_flat(await core.snapshot(snap.id))


async def advance_locked(core: Core, decision_id: int) -> None:
    """:func:`advance` on a fresh snapshot (caller holds the decision's lock)."""
    await advance(core, await core.snapshot(decision_id))


async def entry_progress(core: Core, snap: Snapshot) -> bool | None:
    """The entry steps every market shares: end a decision whose entry ended empty, mark a
    filled one OPEN. ``None`` when there is nothing more to do, else whether the entry is done.
    """
    entry = snap.entry
    if entry is None:
        return None
    entry_done: bool = entry["status"] in TERMINAL_STATUSES
    if entry["filled_quantity"] <= 0:
        if entry_done:
            await entry_ended_empty(core, snap.id, entry)
        return None
    if snap.state == "ROUTED":
        async with core.pool.acquire() as conn, conn.transaction():
            await store.transition(conn, snap.id, Event.FILL)
    return entry_done


async def entry_ended_empty(core: Core, decision_id: int, entry: asyncpg.Record) -> None:
    """An entry that ended without a fill: FAILED when refused, else CANCELLED (alerted)."""
    rejected = entry["status"] == "REJECTED"
    event = Event.FAIL if rejected else Event.CANCEL
    reason = entry["reject_reason"] or f"entry {entry['status'].lower()} without a fill"
    async with core.pool.acquire() as conn, conn.transaction():
        extra = {"failure_reason": reason} if rejected else {}
        row = await store.transition(conn, decision_id, event, [State.ROUTED], **extra)
        if row is not None:
            icon = "⚠️ Entry rejected" if rejected else "✖️ Entry cancelled"
            await store.alert(
                conn,
                "error" if rejected else "info",
                f"{icon} for #D-{decision_id}: {reason}",
                decision_id,
            )
