"""Routing an approved decision: claim it exactly once, then place the entry order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core.contracts import Bracket, Market, Side
from greenlight.core.lifecycle import Event, State
from greenlight.core.symbols import SymbolRules
from router import admission, lifecycle, otoco, store
from router.core import Core, client_id, parse_bracket
from router.errors import RejectedError, TemporaryError, VenueError
from router.ladder import Rung
from router.sender import StillUnknownError
from router.venues.base import NewOrder, NewOtoco

log = logging.getLogger(__name__)
ALREADY_ROUTED = ("ROUTED", "OPEN", "CLOSED")


class RouteRefused(Exception):
    """The decision may not be routed; ``reason`` says why, ``status`` is the HTTP status."""

    def __init__(self, reason: str, state: str | None = None, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.state = state
        self.status = status


@dataclass(frozen=True)
class EntryPlan:
    """The entry order derived from a bracket and the symbol's rules."""

    order: NewOrder
    check_price: Decimal


def plan_entry(decision_id: int, bracket: Bracket, rules: SymbolRules) -> EntryPlan:
    """Round the bracket's entry to the filters; ``ValueError`` names what is wrong."""
    if bracket.market != Market.SPOT or bracket.side != Side.BUY:
        raise ValueError(f"spot router places long brackets only (got {bracket.side} "
                         f"{bracket.market})")  # fmt: skip
    market = bracket.entry_type == "MARKET"
    qty = rules.round_qty(bracket.quantity, market=market)
    price = rules.round_price(bracket.entry_price)
    failed = rules.check(price, qty, market=market)
    if failed:
        raise ValueError(f"entry {qty} @ {price} fails Filter failure: {failed}")
    order = NewOrder(
        symbol=bracket.symbol,
        side="BUY",
        order_type=bracket.entry_type,
        quantity=qty,
        client_order_id=client_id(decision_id, "E"),
        price=None if market else price,
    )
    return EntryPlan(order, price)


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
    listed: tuple[NewOtoco, Rung] | None


async def _route(core: Core, decision_id: int) -> dict[str, Any]:
    async with core.lock(decision_id):
        async with core.pool.acquire() as conn:
            row = await store.get_decision(conn, decision_id)
        if row is None or row["state"] != "APPROVED":
            return await _refusal(core, decision_id)
        try:
            approved = parse_bracket(row["bracket"])
        except ValueError as exc:
            return await _fail_unrouted(core, decision_id, f"unreadable bracket: {exc}")
        async with core.symbol_lock(approved.symbol):  # admitted one after the other
            prepared = await _prepare(core, decision_id, approved)
            if not isinstance(prepared, _Prepared):
                return prepared
            claimed = await _claim(core, decision_id, approved, prepared)
        if claimed is None:  # lost the race, expired or halted: say which
            return await _refusal(core, decision_id)
        if prepared.listed is not None:
            await otoco.send_otoco(core, decision_id, prepared.listed[0])
        else:
            await send_entry(core, decision_id, prepared.plan.order, prepared.bracket.market.value)
        await lifecycle.advance_locked(core, decision_id)
    async with core.pool.acquire() as conn:
        final = await store.get_decision(conn, decision_id)
    assert final is not None
    return {"accepted": True, "already": False, "decision": decision_view(final)}


async def _prepare(core: Core, decision_id: int, approved: Bracket) -> _Prepared | dict[str, Any]:
    """Admit the bracket and plan its entry; a refusal is answered as the API's result."""
    listed: tuple[NewOtoco, Rung] | None = None
    try:
        bracket = await admission.admit(core, decision_id, approved)
        if bracket.market == Market.USDM:
            from router import futures  # noqa: PLC0415 - futures builds on this module

            plan = await futures.prepare_entry(core, decision_id, bracket)
        else:
            rules = await core.rules(bracket.symbol)
            plan = plan_entry(decision_id, bracket, rules)
            if bracket.entry_type == "LIMIT":
                listed = otoco.plan_otoco(decision_id, bracket, rules, plan.order)
        moved = price_moved(bracket, await _last_price(core, bracket))
    except TemporaryError as exc:
        raise RouteRefused(f"venue unavailable: {exc}", "APPROVED", 503) from exc
    except (ValueError, VenueError) as exc:
        return await _fail_unrouted(core, decision_id, str(exc))
    if moved:
        return await _fail_unrouted(core, decision_id, moved)
    return _Prepared(bracket, plan, listed)


async def _claim(
    core: Core, decision_id: int, approved: Bracket, prepared: _Prepared
) -> asyncpg.Record | None:
    """APPROVED → ROUTED with the entry (and an OTOCO's pending legs) recorded, and the
    admitted ladder stored when it differs from the approved one."""
    bracket, plan, listed = prepared.bracket, prepared.plan, prepared.listed
    async with core.pool.acquire() as conn, conn.transaction():
        claimed = await store.claim_for_routing(conn, decision_id)
        if claimed is None:
            return None
        audit = {"entry": vars(plan.order)}
        await store.audit(conn, "decision.routed", decision_id, audit)
        if bracket.take_profits != approved.take_profits:
            await _store_merged(conn, decision_id, approved, bracket)
        row = _entry_row(core, claimed, plan.order, bracket.market.value)
        if listed is not None:
            lid = otoco.entry_row_list(decision_id, listed[1])
            row = replace(row, list_client_id=lid)
        await store.insert_order(conn, row)  # the entry first: reconcile reads by id
        for leg in otoco.pending_rows(core, claimed, listed[1]) if listed else []:
            await store.insert_order(conn, leg)
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


async def _last_price(core: Core, bracket: Bracket) -> Decimal:
    if bracket.market == Market.USDM:
        return await core.usdm().last_price(bracket.symbol)
    return await core.venue.last_price(bracket.symbol)


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


def _entry_row(
    core: Core, decision: asyncpg.Record, order: NewOrder, market: str
) -> store.OrderRow:
    return store.OrderRow(
        decision_id=decision["id"],
        client_order_id=order.client_order_id,
        list_client_id=None,
        venue=core.venue_name,
        market=market,
        symbol=order.symbol,
        leg="E",
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        price=order.price,
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


async def entry_outcome_unknown(core: Core, decision_id: int, exc: StillUnknownError) -> None:
    """Note and alert an entry whose outcome stayed unknown; reconciliation settles it."""
    text = f"⚠️ #D-{decision_id} entry outcome unknown ({exc}); reconciling"
    core.note_error(text)
    await core.alert("error", text, decision_id)


async def send_entry(core: Core, decision_id: int, order: NewOrder, market: str = "spot") -> None:
    """Send the recorded entry order and apply the answer (caller holds the decision lock)."""
    try:
        report = await core.sender_for(market).place(order)
    except StillUnknownError as exc:
        await entry_outcome_unknown(core, decision_id, exc)
        return
    except (RejectedError, VenueError) as exc:
        core.note_error(f"#D-{decision_id} entry refused: {exc.describe()}")
        await lifecycle.mark_order(
            core, decision_id, order.client_order_id, "REJECTED", exc.describe()
        )
        return
    await stamp_ack(core, decision_id, order.client_order_id, report.order_id)
    await lifecycle.apply_report(core, decision_id, report, acked=True, market=market)


async def stamp_ack(core: Core, decision_id: int, cid: str, venue_order_id: str) -> None:
    """Record the venue's acknowledgement the moment it arrives (one statement)."""
    async with core.pool.acquire() as conn:
        await conn.execute(
            "WITH o AS (UPDATE orders SET acked_at = coalesce(acked_at, clock_timestamp()),"
            " venue_order_id = $3 WHERE client_order_id = $2 RETURNING decision_id)"
            " UPDATE decisions SET entry_ack_at = coalesce(entry_ack_at, clock_timestamp())"
            " WHERE id = $1 AND EXISTS (SELECT 1 FROM o)",
            decision_id,
            cid,
            venue_order_id,
        )
