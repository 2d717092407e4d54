"""Routing an approved decision: claim it exactly once, then send its entry.

The decision is read once, under its lock, into a snapshot; its market
(:class:`router.markets.base.Market`) is chosen once from it and plans, prepares and sends
the entry. The claim (APPROVED → ROUTED) records the entry's row — and an OTOCO's pending
legs — in the same transaction, before anything leaves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core.clock import utc_now
from greenlight.core.contracts import Bracket
from greenlight.core.lifecycle import Event, State
from router import admission, lifecycle, store
from router.core import Core
from router.errors import TemporaryError, VenueError
from router.markets.base import EntryPlan, Market

log = logging.getLogger(__name__)
ALREADY_ROUTED = ("ROUTED", "OPEN", "CLOSED")


class RouteRefused(Exception):
    """The decision may not be routed; ``reason`` says why, ``status`` is the HTTP status."""

    def __init__(self, reason: str, state: str | None = None, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.state = state
        self.status = status


def decision_view(row: asyncpg.Record) -> dict[str, Any]:
    """The JSON-safe summary of a decision returned by the API."""
    keys = ("id", "symbol", "state", "failure_reason", "realized_pnl")
    view = {k: store.jsonable(row[k]) for k in keys}
    for k in ("routed_at", "entry_ack_at", "closed_at", "expires_at"):
        view[k] = row[k].isoformat() if row[k] else None
    return view


async def _refusal(core: Core, decision_id: int) -> dict[str, Any]:
    async with core.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT *, expires_at <= now() AS expired FROM decisions WHERE id = $1", decision_id
        )
        enabled = await store.trading_enabled(conn)
    if row is None:
        raise RouteRefused(f"decision #{decision_id} does not exist", None, 404)
    state = row["state"]
    if state in ALREADY_ROUTED:
        return {"accepted": False, "already": True, "decision": decision_view(row)}
    if state != "APPROVED":
        raise RouteRefused(f"decision #{decision_id} is {state}, not APPROVED", state)
    if row["expired"]:
        raise RouteRefused(f"decision #{decision_id} expired at {row['expires_at']}", state)
    if not enabled:
        raise RouteRefused("trading is disabled (kill switch)", state)
    raise RouteRefused(f"decision #{decision_id} could not be claimed", state)


async def route(core: Core, decision_id: int) -> dict[str, Any]:
    """Route an APPROVED decision exactly once and place its entry order.

    A bracket that fails the router's own checks, or whose protection cannot fit the
    symbol's order-count filters, fails with the reason (alerted). Anything unexpected about
    one decision quarantines it the same way instead of failing every later sweep.
    """
    try:
        return await _route(core, decision_id)
    except (RouteRefused, asyncpg.PostgresError, OSError):
        raise
    except Exception as exc:  # one bad row must never block the others
        return await quarantine(core, decision_id, exc)


@dataclass(frozen=True)
class _Prepared:
    bracket: Bracket  # as admitted: the take-profit ladder may be merged
    plan: EntryPlan


async def _route(core: Core, decision_id: int) -> dict[str, Any]:
    async with core.locked(decision_id) as snap:
        if snap is None or snap.state != "APPROVED":
            return await _refusal(core, decision_id)
        try:
            approved = snap.bracket
        except ValueError as exc:
            return await _fail_unrouted(core, decision_id, f"unreadable bracket: {exc}")
        market = core.market(snap.market)
        async with core.symbol_lock(approved.symbol):  # admitted one after the other
            prepared = await _prepare(core, market, decision_id, approved)
            if not isinstance(prepared, _Prepared):
                return prepared
            claimed = await _claim(core, decision_id, approved, prepared)
        if claimed is None:  # lost the race, expired or halted: say which
            return await _refusal(core, decision_id)
        await market.send_entry(await core.snapshot(decision_id), prepared.plan)
        await lifecycle.advance(core, await core.snapshot(decision_id))
    async with core.pool.acquire() as conn:
        final = await store.get_decision(conn, decision_id)
    assert final is not None
    return {"accepted": True, "already": False, "decision": decision_view(final)}


async def _prepare(
    core: Core, market: Market, decision_id: int, approved: Bracket
) -> _Prepared | dict[str, Any]:
    """Admit the bracket and plan its entry; a refusal is answered as the API's result."""
    try:
        bracket = await admission.admit(core, market, decision_id, approved)
        plan = await market.prepare_entry(decision_id, bracket)
        moved = price_moved(bracket, await market.last_price(bracket.symbol))
    except TemporaryError as exc:
        raise RouteRefused(f"venue unavailable: {exc}", "APPROVED", 503) from exc
    except (ValueError, VenueError) as exc:
        return await _fail_unrouted(core, decision_id, str(exc))
    if moved:
        return await _fail_unrouted(core, decision_id, moved)
    return _Prepared(bracket, plan)


async def _claim(
    core: Core, decision_id: int, approved: Bracket, prepared: _Prepared
) -> asyncpg.Record | None:
    """APPROVED → ROUTED with the entry (and an OTOCO's pending legs) recorded, and the
    admitted ladder stored when it differs from the approved one."""
    bracket, plan = prepared.bracket, prepared.plan
    async with core.pool.acquire() as conn, conn.transaction():
        claimed = await store.claim_for_routing(conn, decision_id, utc_now(core.clock))
        if claimed is None:
            return None
        audit = {"entry": vars(plan.order)}
        await store.audit(conn, "decision.routed", decision_id, audit)
        if bracket.take_profits != approved.take_profits:
            await _store_merged(conn, decision_id, approved, bracket)
        for row in plan.rows:  # the entry first: reconcile reads by id
            await store.insert_order(conn, row)
    return claimed


async def _store_merged(
    conn: asyncpg.Connection, decision_id: int, approved: Bracket, merged: Bracket
) -> None:
    """Keep the merged ladder as the decision's bracket (protection reads it from there);
    the approved one stays in the audit log."""
    await conn.execute(
        "UPDATE decisions SET bracket = $2, updated_at = clock_timestamp() WHERE id = $1",
        decision_id,
        merged.model_dump(mode="json"),
    )
    ladder = {
        "approved": [t.model_dump(mode="json") for t in approved.take_profits],
        "planned": [t.model_dump(mode="json") for t in merged.take_profits],
    }
    await store.audit(conn, "protect.ladder_merged", decision_id, ladder)
    text = (
        f"🛡️ #D-{decision_id} {approved.symbol}: take-profits merged"
        f" {len(approved.take_profits)} → {len(merged.take_profits)} so that the whole"
        " protection fits the symbol's open-order limits"
    )
    await store.alert(conn, "info", text, decision_id)


async def quarantine(core: Core, decision_id: int, exc: Exception) -> dict[str, Any]:
    """Fail an APPROVED decision that broke the routing code (alerted, with the error);
    re-raise when it is no longer APPROVED (its orders are the lifecycle's business)."""
    reason = f"router error while routing: {exc!r}"
    core.note_error(f"#D-{decision_id} {reason}")
    async with core.pool.acquire() as conn, conn.transaction():
        row = await store.transition(
            conn, decision_id, Event.FAIL, [State.APPROVED], failure_reason=reason
        )
        if row is not None:
            await store.alert(
                conn, "error", f"⚠️ #D-{decision_id} quarantined: {reason}", decision_id
            )
    if row is None:
        raise exc
    return {"accepted": False, "already": False, "decision": decision_view(row)}


def price_moved(bracket: Bracket, last: Decimal) -> str | None:
    """Why a market entry must not be sent now: the price already left the stop / first-target
    band the person approved (entering would start a trade that is already stopped out or past
    its target). ``None`` when the entry is still sound."""
    target = bracket.take_profits[0].price
    long = bracket.side.value == "BUY"
    inside = bracket.stop_price < last < target if long else target < last < bracket.stop_price
    if inside:
        return None
    return (
        f"market moved before the entry: last price {last} is outside the approved band "
        f"(stop {bracket.stop_price}, first target {target})"
    )


async def _fail_unrouted(core: Core, decision_id: int, reason: str) -> dict[str, Any]:
    async with core.pool.acquire() as conn, conn.transaction():
        row = await store.transition(
            conn, decision_id, Event.FAIL, [State.APPROVED], failure_reason=reason
        )
        if row is not None:
            text = f"⚠️ #D-{decision_id} not routed: {reason}"
            await store.alert(conn, "error", text, decision_id)
    if row is None:
        return await _refusal(core, decision_id)
    return {"accepted": False, "already": False, "decision": decision_view(row)}
