"""After the entry: apply venue reports, protect the position, close the decision.

Every function that changes a decision's orders runs under that decision's lock; the
``*_locked`` variants expect the caller to hold it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from greenlight.core.lifecycle import Event, State
from greenlight.core.symbols import SymbolRules
from router import alerts, ledger, store
from router.core import Core
from router.errors import VenueError
from router.venues.base import (
    TERMINAL_STATUSES,
    ExecutionEvent,
    OrderReport,
    TradeFill,
)

log = logging.getLogger(__name__)
EXIT_PREFIXES = ("TP", "SL", "X", "M")


def leg_kind(leg: str) -> str:
    """``TP3`` → ``TP``; ``SL2r1`` → ``SL``; ``E`` → ``E``."""
    m = re.match(r"[A-Z]+", leg)
    return m.group(0) if m else leg


@dataclass(frozen=True)
class OrderState:
    """One order's state as the venue reports it, with the fills known so far."""

    cid: str
    status: str
    venue_order_id: str | None
    filled: Decimal
    cum_quote: Decimal
    fills: tuple[TradeFill, ...]
    reject_reason: str | None = None
    acked: bool = False


async def apply_order_state(
    core: Core,
    decision_id: int,
    cid: str,
    status: str,
    venue_order_id: str | None,
    filled: Decimal,
    cum_quote: Decimal,
    fills: tuple[TradeFill, ...] | list[TradeFill],
    reject_reason: str | None = None,
    acked: bool = False,
) -> None:
    """Apply one order's venue state and fills in a single transaction (idempotent)."""
    state = OrderState(cid, status, venue_order_id, filled, cum_quote, tuple(fills),
                       reject_reason, acked)  # fmt: skip
    async with core.pool.acquire() as conn:
        decision = await store.get_decision(conn, decision_id)
        assert decision is not None
        # cached; fetched outside the transaction
        rules = await core.rules_for(decision["market"], decision["symbol"])
        async with conn.transaction():
            await _apply_in_tx(conn, core, decision, rules, state)


async def _apply_in_tx(
    conn: asyncpg.Connection,
    core: Core,
    decision: asyncpg.Record,
    rules: SymbolRules,
    st: OrderState,
) -> None:
    decision_id = decision["id"]
    before = await store.update_order(
        conn, st.cid, st.status, st.venue_order_id, st.filled, st.cum_quote, st.reject_reason,
        st.acked,
    )  # fmt: skip
    row = await conn.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", st.cid)
    if row is None:
        log.warning("report for unknown order %s ignored", st.cid)
        return
    new_fill = False
    for fill in st.fills:
        new_fill |= await ledger.insert_fill(
            conn, core.venue_name, decision["symbol"], st.cid, decision_id, row["side"], fill
        )
    if new_fill or before is not None:
        await ledger.recompute_position(conn, decision, rules.base_asset, rules.quote_asset)
    if before is not None:
        detail = {"client_order_id": st.cid, "from": before["status"], "to": st.status,
                  "filled": st.filled}  # fmt: skip
        await store.audit(conn, "order.update", decision_id, detail)
        await _fill_alert(conn, rules, row, before, st, decision_id)
    if st.acked and row["leg"] == "E":
        await conn.execute(
            "UPDATE decisions SET entry_ack_at = coalesce(entry_ack_at, clock_timestamp())"
            " WHERE id = $1",
            decision_id,
        )


async def _fill_alert(
    conn: asyncpg.Connection,
    rules: SymbolRules,
    row: asyncpg.Record,
    before: asyncpg.Record,
    st: OrderState,
    decision_id: int,
) -> None:
    was_done = before["status"] in TERMINAL_STATUSES
    if was_done or st.status not in TERMINAL_STATUSES or st.filled <= 0:
        return
    leg = row["leg"]
    avg = st.cum_quote / st.filled
    text = alerts.filled_text(rules, row["side"], st.filled, avg, decision_id,
                              "" if leg == "E" else leg)  # fmt: skip
    await store.alert(conn, "fill", text, decision_id)


async def apply_report(
    core: Core,
    decision_id: int,
    report: OrderReport,
    acked: bool = False,
    market: str = "spot",
    fetch_trades: bool | None = None,
) -> None:
    """Apply a REST order report (placement, query or cancel answer).

    A query or cancel answer carries no fills: when the order has executed more than the
    report's fills show, its trades are fetched so that every fill is recorded. On USD-M
    (no fills in any order response) that look-up is left to the user stream and to
    reconciliation (``fetch_trades=True``), so a weight-throttled GET never delays the
    protective orders.
    """
    fetch = fetch_trades if fetch_trades is not None else market != "usdm"
    if fetch and report.executed_qty > sum((f.qty for f in report.fills), Decimal(0)):
        try:
            venue = core.usdm() if market == "usdm" else core.venue
            trades = await venue.trades(report.symbol, report.order_id)
        except VenueError as exc:
            core.note_error(f"trades of {report.client_order_id}: {exc.describe()}")
        else:
            report = replace(report, fills=tuple(trades))
    await apply_order_state(
        core,
        decision_id,
        report.client_order_id,
        report.status,
        report.order_id,
        report.executed_qty,
        report.cum_quote,
        report.fills,
        acked=acked,
    )


async def decision_of(core: Core, cid: str, what: str) -> int | None:
    """The decision owning our order ``cid``; ``None`` for foreign or unknown orders.

    An unknown ``gl-`` order is noted as an error about the ``what`` that named it.
    """
    if not cid.startswith("gl-"):
        return None
    async with core.pool.acquire() as conn:
        decision_id: int | None = await conn.fetchval(
            "SELECT decision_id FROM orders WHERE client_order_id = $1", cid
        )
    if decision_id is None:
        core.note_error(f"{what} for unknown order {cid}")
    return decision_id


async def on_execution(core: Core, event: ExecutionEvent) -> None:
    """Apply a user-data ``executionReport`` and move the decision on."""
    decision_id = await decision_of(core, event.client_order_id, "execution report")
    if decision_id is None:
        return
    async with core.lock(decision_id):
        await apply_order_state(
            core,
            decision_id,
            event.client_order_id,
            event.status,
            event.order_id,
            event.cum_qty,
            event.cum_quote,
            [event.fill] if event.fill else [],
            reject_reason=None if event.reject_reason == "NONE" else event.reject_reason,
        )
        await advance_locked(core, decision_id)


async def advance_locked(core: Core, decision_id: int) -> None:
    """Take the next step the decision's orders call for: OPEN, protect, CLOSED, FAILED."""
    async with core.pool.acquire() as conn:
        decision = await store.get_decision(conn, decision_id)
        orders = await store.orders_for(conn, decision_id)
    if decision is None or decision["state"] not in store.LIVE_STATES:
        return
    if decision["market"] == "usdm":
        from router import futures_lifecycle  # noqa: PLC0415 - the futures path imports us

        await futures_lifecycle.advance(core, decision, orders)
        return
    entry_done = await entry_progress(core, decision, orders)
    if entry_done is None:
        return
    from router import protect  # noqa: PLC0415 - protect builds on this module

    await protect.align_locked(core, decision_id)
    if not entry_done:
        return
    async with core.pool.acquire() as conn:
        orders = await store.orders_for(conn, decision_id)
    exits = [o for o in orders if leg_kind(o["leg"]) in EXIT_PREFIXES]
    if exits and all(o["status"] in TERMINAL_STATUSES for o in exits):
        await _close_if_flat(core, decision)


async def mark_order(core: Core, decision_id: int, cid: str, status: str, reason: str) -> None:
    """Record a terminal status without fills (a refusal)."""
    await apply_order_state(
        core, decision_id, cid, status, None, Decimal(0), Decimal(0), [], reject_reason=reason
    )


async def entry_progress(
    core: Core, decision: asyncpg.Record, orders: list[asyncpg.Record]
) -> bool | None:
    """The entry steps every market shares: end a decision whose entry ended empty, mark a
    filled one OPEN. ``None`` when there is nothing more to do, else whether the entry is done.
    """
    entry = next((o for o in orders if o["leg"] == "E"), None)
    if entry is None:
        return None
    entry_done: bool = entry["status"] in TERMINAL_STATUSES
    if entry["filled_quantity"] <= 0:
        if entry_done:
            await entry_ended_empty(core, decision["id"], entry)
        return None
    if decision["state"] == "ROUTED":
        async with core.pool.acquire() as conn, conn.transaction():
            await store.transition(conn, decision["id"], Event.FILL)
    return entry_done


async def entry_ended_empty(core: Core, decision_id: int, entry: asyncpg.Record) -> None:
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


async def _close_if_flat(core: Core, decision: asyncpg.Record) -> None:
    rules = await core.rules(decision["symbol"])
    async with core.pool.acquire() as conn, conn.transaction():
        fig = await ledger.recompute_position(conn, decision, rules.base_asset, rules.quote_asset)
        if rules.round_qty(fig.open_quantity) > 0:
            text = (
                f"🚨 #D-{decision['id']}: {fig.open_quantity} {rules.base_asset} still held"
                " with no protective order working"
            )
            await store.alert(conn, "error", text, decision["id"])
            core.note_error(text)
            return
        row = await store.transition(
            conn,
            decision["id"],
            Event.FLAT,
            realized_pnl=fig.realized_pnl,
            closed_at=datetime.now(UTC),
        )
        if row is not None:
            await ledger.close_position(conn, decision["id"])
            text = alerts.closed_text(rules, fig.realized_pnl, decision["id"])
            await store.alert(conn, "closed", text, decision["id"])
