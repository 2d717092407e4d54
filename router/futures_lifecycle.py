"""USD-M decisions after the entry: algo reports, flat detection, leftovers, CLOSED.

An algo order's row carries the algo status mapped onto order statuses (``NEW``,
``TRIGGERED``, then ``FILLED`` / ``CANCELED`` / ``EXPIRED`` / ``REJECTED``). Its fills are the
trades of the order it triggered (``actualOrderId``), fetched by order id and keyed by trade
id, so an ``ALGO_UPDATE`` and a later reconciliation never record a fill twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from greenlight.core.lifecycle import Event
from router import alerts, futures, ledger, lifecycle, store
from router.core import Core, client_id
from router.errors import OrderNotFoundError, ReduceOnlyRejectedError, VenueError
from router.venues.base import TERMINAL_STATUSES, AlgoReport, NewOrder, TradeFill

log = logging.getLogger(__name__)
ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"})
_ALGO_STATUS = {"NEW": "NEW", "TRIGGERING": "TRIGGERED", "TRIGGERED": "TRIGGERED",
                "CANCELED": "CANCELED", "EXPIRED": "EXPIRED", "REJECTED": "REJECTED"}  # fmt: skip


def is_algo(row: asyncpg.Record) -> bool:
    """Whether an order row is a conditional (algo) order."""
    return row["order_type"] in ALGO_TYPES


async def _recorded(core: Core, cid: str) -> tuple[Decimal, Decimal]:
    """Quantity and quote of the fills already recorded for ``cid``."""
    async with core.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT coalesce(sum(quantity), 0) AS q, coalesce(sum(quantity * price), 0) AS v"
            " FROM fills WHERE client_order_id = $1",
            cid,
        )
    return row["q"], row["v"]


async def _algo_fills(core: Core, report: AlgoReport) -> list[TradeFill] | None:
    """The triggered order's trades, or ``None`` when not needed or not available."""
    if report.actual_order_id is None or report.status != "FINISHED":
        return None
    recorded, _ = await _recorded(core, report.client_algo_id)
    if report.filled_qty > 0 and recorded >= report.filled_qty:
        return None  # the stream's ORDER_TRADE_UPDATE already brought them
    try:
        return await core.usdm().trades(report.symbol, report.actual_order_id)
    except VenueError as exc:
        core.note_error(f"trades of {report.client_algo_id}: {exc.describe()}")
        return None


async def apply_algo(core: Core, decision_id: int, report: AlgoReport, acked: bool = False) -> None:
    """Apply an algo order's state and the fills of the order it triggered (idempotent)."""
    fills = await _algo_fills(core, report) or []
    if fills:
        filled = sum((f.qty for f in fills), Decimal(0))
        quote = sum((f.qty * f.price for f in fills), Decimal(0))
    else:
        filled, quote = await _recorded(core, report.client_algo_id)
    if report.status == "FINISHED":
        status = "FILLED" if filled > 0 else "EXPIRED"
        if filled == 0 and report.filled_qty > 0:
            status = "TRIGGERED"  # executed, trades not visible yet: keep it open for now
    else:
        status = _ALGO_STATUS.get(report.status, report.status)
    await lifecycle.apply_order_state(
        core, decision_id, report.client_algo_id, status, report.algo_id, filled, quote,
        fills, reject_reason=report.reject_reason or None, acked=acked,
    )  # fmt: skip


async def on_algo(core: Core, report: AlgoReport) -> None:
    """Apply an ``ALGO_UPDATE`` and move the decision on."""
    decision_id = await lifecycle.decision_of(core, report.client_algo_id, "algo update")
    if decision_id is None:
        return
    async with core.lock(decision_id):
        await apply_algo(core, decision_id, report)
        await lifecycle.advance_locked(core, decision_id)


async def refresh(core: Core, decision_id: int, row: asyncpg.Record) -> None:
    """Query one order (algo or plain) and apply what the venue says."""
    venue = core.usdm()
    symbol, cid = row["symbol"], row["client_order_id"]
    if is_algo(row):
        await apply_algo(core, decision_id, await venue.query_algo(symbol, cid), acked=True)
        return
    report = await venue.query_order(symbol, cid)
    await lifecycle.apply_report(core, decision_id, report, True, "usdm", fetch_trades=True)


async def cancel(core: Core, decision_id: int, row: asyncpg.Record) -> None:
    """Cancel one working order (algo or plain) and apply its final state."""
    venue = core.usdm()
    symbol, cid = row["symbol"], row["client_order_id"]
    try:
        if is_algo(row):
            await apply_algo(core, decision_id, await venue.cancel_algo(symbol, cid))
        else:
            report = await venue.cancel_order(symbol, cid)
            await lifecycle.apply_report(core, decision_id, report, market="usdm")
    except OrderNotFoundError:
        await refresh(core, decision_id, row)


async def market_exit(core: Core, decision_id: int, qty: Decimal | None, leg: str) -> None:
    """Close ``qty`` (all that is open when ``None``) with one reduce-only MARKET, once."""
    async with core.pool.acquire() as conn:
        decision = await store.get_decision(conn, decision_id)
        assert decision is not None
        if qty is None:  # what the venue executed, whether or not its fills arrived yet
            qty = await conn.fetchval(
                "SELECT coalesce(sum(CASE WHEN side = $2 THEN filled_quantity"
                " ELSE -filled_quantity END), 0) FROM orders WHERE decision_id = $1",
                decision_id,
                decision["side"],
            )
    rules = await core.rules_for("usdm", decision["symbol"])
    qty = rules.round_qty(qty or Decimal(0), market=True)
    if qty <= 0:
        return
    side = futures.exit_side(decision["side"])
    order = NewOrder(decision["symbol"], side, "MARKET", qty, client_id(decision_id, leg),
                     reduce_only=True)  # fmt: skip
    row = store.OrderRow(decision_id, order.client_order_id, None, core.venue_name, "usdm",
                         order.symbol, leg, side, "MARKET", qty)  # fmt: skip
    async with core.pool.acquire() as conn, conn.transaction():
        if not await store.insert_order(conn, row):
            return  # already sent once: never close twice
        await store.audit(conn, "exit.market", decision_id, {"leg": leg, "qty": qty})
    try:
        report = await core.usdm_sender().place(order)
    except ReduceOnlyRejectedError as exc:
        await lifecycle.mark_order(
            core, decision_id, order.client_order_id, "REJECTED", exc.describe()
        )
        return  # nothing left to reduce: the position is already closed
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} reduce-only {side} {qty} not confirmed: {exc.describe()}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return
    await lifecycle.apply_report(core, decision_id, report, acked=True, market="usdm")


async def advance(core: Core, decision: asyncpg.Record, orders: list[asyncpg.Record]) -> None:
    """Next step of a live USD-M decision: OPEN, protect, cancel leftovers when flat, CLOSED."""
    d = decision["id"]
    entry_done = await lifecycle.entry_progress(core, decision, orders)
    if entry_done is None:
        return
    from router import futures_protect  # noqa: PLC0415 - it imports this module

    await futures_protect.align(core, d)
    if not entry_done:
        return
    async with core.pool.acquire() as conn:
        orders = await store.orders_for(conn, d)
    exits = [o for o in orders if o["leg"] != "E"]
    if not exits:
        return
    if await _fills_pending(core, d):
        return  # flatness is only judged on complete fills (stream or reconciliation)
    rules = await core.rules_for("usdm", decision["symbol"])
    async with core.pool.acquire() as conn, conn.transaction():
        fig = await ledger.recompute_position(conn, decision, rules.base_asset, rules.quote_asset)
    working = [o for o in exits if o["status"] not in TERMINAL_STATUSES]
    if rules.round_qty(abs(fig.open_quantity), market=True) > 0:
        if not working:
            text = f"🚨 #D-{d}: {fig.open_quantity} {rules.base_asset} open, nothing protecting it"
            core.note_error(text)
            await core.alert("error", text, d)
        return
    for row in working:  # flat: nothing may stay resting
        await cancel(core, d, row)
    async with core.pool.acquire() as conn:
        left = [o for o in await store.orders_for(conn, d) if o["status"] not in TERMINAL_STATUSES]
    if not left:
        await _close(core, decision, rules.quote_asset)


async def _fills_pending(core: Core, decision_id: int) -> bool:
    """Whether an order executed more than the fills recorded for it so far."""
    async with core.pool.acquire() as conn:
        pending: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM orders o WHERE o.decision_id = $1 AND"
            " o.filled_quantity > (SELECT coalesce(sum(f.quantity), 0) FROM fills f"
            " WHERE f.client_order_id = o.client_order_id))",
            decision_id,
        )
    return pending


async def _close(core: Core, decision: asyncpg.Record, quote: str) -> None:
    rules = await core.rules_for("usdm", decision["symbol"])
    async with core.pool.acquire() as conn, conn.transaction():
        fig = await ledger.recompute_position(conn, decision, rules.base_asset, quote)
        row = await store.transition(conn, decision["id"], Event.FLAT,
                                     realized_pnl=fig.realized_pnl,
                                     closed_at=datetime.now(UTC))  # fmt: skip
        if row is not None:
            await ledger.close_position(conn, decision["id"])
            text = alerts.closed_text(rules, fig.realized_pnl, decision["id"])
            await store.alert(conn, "closed", text, decision["id"])
