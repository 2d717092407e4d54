"""After the entry: apply venue reports, protect the position, close the decision.

Every function that changes a decision's orders runs under that decision's lock; the
``*_locked`` variants expect the caller to hold it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from engine.symbols import SymbolRules
from router import alerts, ledger, store
from router.core import Core, client_id, parse_bracket
from router.errors import RejectedError, VenueError
from router.ladder import ProtectionError, Rung, split_rungs
from router.venues.base import (
    TERMINAL_STATUSES,
    ExecutionEvent,
    NewOco,
    NewOrder,
    OrderReport,
    TradeFill,
)

log = logging.getLogger(__name__)
EXIT_PREFIXES = ("TP", "SL", "X", "M")
# OCO refusals meaning the market already passed the stop or the target: exit at market.
PRICE_ALREADY_CROSSED = ("immediately", "relationship of the prices")


def leg_kind(leg: str) -> str:
    """``TP3`` → ``TP``; ``E`` → ``E``."""
    return leg.rstrip("0123456789")


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


async def on_execution(core: Core, event: ExecutionEvent) -> None:
    """Apply a user-data ``executionReport`` and move the decision on."""
    if not event.client_order_id.startswith("gl-"):
        return
    async with core.pool.acquire() as conn:
        decision_id = await conn.fetchval(
            "SELECT decision_id FROM orders WHERE client_order_id = $1", event.client_order_id
        )
    if decision_id is None:
        core.note_error(f"execution report for unknown order {event.client_order_id}")
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
    entry = next((o for o in orders if o["leg"] == "E"), None)
    if entry is None:
        return
    entry_done = entry["status"] in TERMINAL_STATUSES
    if entry["filled_quantity"] <= 0:
        if entry_done:
            await entry_ended_empty(core, decision_id, entry)
        return
    if decision["state"] == "ROUTED":
        async with core.pool.acquire() as conn, conn.transaction():
            await store.transition(conn, decision_id, ["ROUTED"], "OPEN")
    if not entry_done:
        return
    exits = [o for o in orders if leg_kind(o["leg"]) in EXIT_PREFIXES]
    if not exits:
        await protect_locked(core, decision_id)
        async with core.pool.acquire() as conn:
            orders = await store.orders_for(conn, decision_id)
        exits = [o for o in orders if leg_kind(o["leg"]) in EXIT_PREFIXES]
        if not exits:
            return
    if all(o["status"] in TERMINAL_STATUSES for o in exits):
        await _close_if_flat(core, decision)


async def entry_ended_empty(core: Core, decision_id: int, entry: asyncpg.Record) -> None:
    rejected = entry["status"] == "REJECTED"
    new_state = "FAILED" if rejected else "CANCELLED"
    reason = entry["reject_reason"] or f"entry {entry['status'].lower()} without a fill"
    async with core.pool.acquire() as conn, conn.transaction():
        extra = {"failure_reason": reason} if rejected else {}
        row = await store.transition(conn, decision_id, ["ROUTED"], new_state, **extra)
        if row is not None:
            icon = "⚠️ Entry rejected" if rejected else "✖️ Entry cancelled"
            await store.alert(
                conn,
                "error" if rejected else "info",
                f"{icon} for #D-{decision_id}: {reason}",
                decision_id,
            )


async def protect_locked(core: Core, decision_id: int) -> None:
    """Place one OCO per take-profit rung covering exactly the net filled quantity."""
    async with core.pool.acquire() as conn:
        decision = await store.get_decision(conn, decision_id)
        assert decision is not None
        rules = await core.rules(decision["symbol"])
        fills = await conn.fetch("SELECT * FROM fills WHERE decision_id = $1", decision_id)
    fig = ledger.figures(list(fills), rules.base_asset, rules.quote_asset)
    try:
        rungs = split_rungs(parse_bracket(decision["bracket"]), fig.open_quantity, rules)
    except (ProtectionError, ValueError) as exc:
        text = f"🚨 #D-{decision_id} UNPROTECTED: {exc}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return
    async with core.pool.acquire() as conn, conn.transaction():
        for rung in rungs:
            for row in _rung_rows(core, decision, rung):
                await store.insert_order(conn, row)
        await store.audit(conn, "protect.planned", decision_id, {"rungs": [vars(r) for r in rungs]})
    for rung in rungs:
        await place_rung(core, decision_id, decision["symbol"], rung)
    await core.alert(
        "info",
        alerts.protected_text(rules, rungs[0].stop, [r.take_profit for r in rungs], decision_id),
        decision_id,
    )


def _rung_rows(core: Core, decision: asyncpg.Record, rung: Rung) -> list[store.OrderRow]:
    d, i = decision["id"], rung.index
    common = {
        "decision_id": d,
        "list_client_id": client_id(d, f"L{i}"),
        "venue": core.venue_name,
        "market": core.market,
        "symbol": decision["symbol"],
        "side": "SELL",
        "quantity": rung.quantity,
    }
    return [
        store.OrderRow(client_order_id=client_id(d, f"TP{i}"), leg=f"TP{i}",
                       order_type="LIMIT_MAKER", price=rung.take_profit, **common),
        store.OrderRow(client_order_id=client_id(d, f"SL{i}"), leg=f"SL{i}",
                       order_type="STOP_LOSS", stop_price=rung.stop, **common),
    ]  # fmt: skip


async def place_rung(core: Core, decision_id: int, symbol: str, rung: Rung) -> None:
    """Send one rung's OCO (rows already recorded) and apply the answer."""
    i = rung.index
    oco = NewOco(
        symbol=symbol,
        side="SELL",
        quantity=rung.quantity,
        take_profit_price=rung.take_profit,
        stop_price=rung.stop,
        list_client_id=client_id(decision_id, f"L{i}"),
        take_profit_client_id=client_id(decision_id, f"TP{i}"),
        stop_client_id=client_id(decision_id, f"SL{i}"),
    )
    try:
        reports = await core.sender.place_oco(oco)
    except RejectedError as exc:
        for cid in (oco.take_profit_client_id, oco.stop_client_id):
            await apply_order_state(core, decision_id, cid, "REJECTED", None, Decimal(0),
                                    Decimal(0), [], reject_reason=exc.describe())  # fmt: skip
        text = f"🚨 #D-{decision_id} protective OCO L{i} rejected: {exc.describe()}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        if any(m in str(exc).lower() for m in PRICE_ALREADY_CROSSED):
            await exit_rung_at_market(core, decision_id, symbol, rung)
        return
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} protective OCO L{i} not confirmed ({exc.describe()})"
        core.note_error(text)
        await core.alert("error", text + "; reconciliation will retry", decision_id)
        return
    for report in reports:
        await apply_report(core, decision_id, report, acked=True)


async def exit_rung_at_market(core: Core, decision_id: int, symbol: str, rung: Rung) -> None:
    """Sell a rung at market (``gl-<d>-M<i>``) once, when its OCO could not rest."""
    rules = await core.rules(symbol)
    qty = rules.round_qty(rung.quantity, market=True)
    order = NewOrder(symbol, "SELL", "MARKET", qty, client_id(decision_id, f"M{rung.index}"))
    row = store.OrderRow(decision_id, order.client_order_id, None, core.venue_name, core.market,
                         symbol, f"M{rung.index}", "SELL", "MARKET", qty)  # fmt: skip
    async with core.pool.acquire() as conn, conn.transaction():
        if not await store.insert_order(conn, row):
            return
        await store.audit(conn, "exit.market", decision_id, {"rung": rung.index, "qty": qty})
    try:
        report = await core.sender.place(order)
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} market exit of rung {rung.index} failed: {exc.describe()}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return
    await apply_report(core, decision_id, report, acked=True)


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
            ["OPEN"],
            "CLOSED",
            realized_pnl=fig.realized_pnl,
            closed_at=datetime.now(UTC),
        )
        if row is not None:
            await ledger.close_position(conn, decision["id"])
            text = alerts.closed_text(rules, fig.realized_pnl, decision["id"])
            await store.alert(conn, "closed", text, decision["id"])
