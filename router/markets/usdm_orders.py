"""USD-M orders: the entry, the protective algo orders and reduce-only market exits.

Entry ``gl-<d>-E`` is a MARKET order after the symbol's leverage (≤ the cap) and margin type
are set. Protection is one ``STOP_MARKET closePosition=true`` (``gl-<d>-SL``) — it covers
whatever remains after each take-profit without re-placement — and one reduce-only
``TAKE_PROFIT_MARKET`` per rung (``gl-<d>-TP<i>``), all on ``/fapi/v1/algoOrder``.

An algo order's row carries the algo status mapped onto order statuses (``NEW``,
``TRIGGERED``, then ``FILLED`` / ``CANCELED`` / ``EXPIRED`` / ``REJECTED``). Its fills are the
trades of the order it triggered (``actualOrderId``), fetched by order id and keyed by trade
id, so an ``ALGO_UPDATE`` and a later reconciliation never record a fill twice.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from greenlight.core.contracts import Bracket, Market, Side
from greenlight.core.symbols import SymbolRules
from router import store
from router.core import client_id
from router.errors import (
    OrderNotFoundError,
    ReduceOnlyRejectedError,
    RejectedError,
    VenueError,
    WouldTriggerError,
)
from router.ladder import ProtectionError
from router.markets.base import EntryPlan
from router.markets.desks import UsdmDesk
from router.reports import OrderState, apply_order_state, apply_report, mark_order
from router.snapshot import Snapshot
from router.venues.base import AlgoReport, NewAlgoOrder, NewOrder, TradeFill

log = logging.getLogger(__name__)
ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"})
_ALGO_STATUS = {
    "NEW": "NEW",
    "TRIGGERING": "TRIGGERED",
    "TRIGGERED": "TRIGGERED",
    "CANCELED": "CANCELED",
    "EXPIRED": "EXPIRED",
    "REJECTED": "REJECTED",
}


def exit_side(bracket_side: str) -> str:
    """The side that reduces a position opened on ``bracket_side``."""
    return "SELL" if bracket_side == "BUY" else "BUY"


def is_algo(row: asyncpg.Record) -> bool:
    """Whether an order row is a conditional (algo) order."""
    return row["order_type"] in ALGO_TYPES


def plan_futures_entry(
    decision_id: int, bracket: Bracket, rules: SymbolRules, leverage_cap: int
) -> EntryPlan:
    """The MARKET entry for a USD-M bracket; ``ValueError`` names what is wrong."""
    if bracket.market != Market.USDM:
        raise ValueError(f"not a USD-M bracket: {bracket.market}")
    if not 1 <= bracket.leverage <= leverage_cap:
        raise ValueError(f"leverage {bracket.leverage} outside 1..{leverage_cap} (cap)")
    long = bracket.side == Side.BUY
    if (bracket.stop_price < bracket.entry_price) != long:
        raise ValueError(f"stop {bracket.stop_price} is on the wrong side of the entry")
    qty = rules.round_qty(bracket.quantity, market=True)
    price = rules.round_price(bracket.entry_price)
    failed = rules.check(price, qty, market=True)
    if failed:
        raise ValueError(f"entry {qty} @ {price} fails Filter failure: {failed}")
    order = NewOrder(bracket.symbol, bracket.side.value, "MARKET", qty, client_id(decision_id, "E"))
    return EntryPlan(order, price)


async def prepare_entry(desk: UsdmDesk, decision_id: int, bracket: Bracket) -> EntryPlan:
    """Check the bracket, then set leverage and margin type on the venue (no order yet)."""
    venue = desk.venue
    rules = await venue.rules(bracket.symbol)
    plan = plan_futures_entry(decision_id, bracket, rules, desk.core.leverage_cap)
    applied = await venue.set_leverage(bracket.symbol, bracket.leverage)
    if applied != bracket.leverage:
        raise ValueError(f"venue applied leverage {applied}, asked for {bracket.leverage}")
    await venue.ensure_margin_type(bracket.symbol, desk.margin_type)
    return plan


@dataclass(frozen=True)
class AlgoLeg:
    """One protective algo order with its database row."""

    order: NewAlgoOrder
    row: store.OrderRow


def stop_leg(snap: Snapshot, bracket: Bracket, rules: SymbolRules) -> AlgoLeg:
    """The ``STOP_MARKET closePosition`` leg ``gl-<d>-SL``: it covers whatever is open."""
    long = bracket.side == Side.BUY
    stop = rules.round_price(bracket.stop_price, "down" if long else "up")
    side = exit_side(bracket.side.value)
    return _leg(snap, side, "SL", "STOP_MARKET", stop, None)


def tp_leg(snap: Snapshot, bracket: Bracket, leg: str, tp: Decimal, qty: Decimal) -> AlgoLeg:
    """One reduce-only ``TAKE_PROFIT_MARKET`` rung named ``leg``."""
    side = exit_side(bracket.side.value)
    return _leg(snap, side, leg, "TAKE_PROFIT_MARKET", tp, qty)


def futures_rungs(
    bracket: Bracket, open_qty: Decimal, rules: SymbolRules, skip: Collection[int] = ()
) -> list[tuple[int, Decimal, Decimal]]:
    """Take-profit ``(index, trigger, quantity)`` rungs summing to ``open_qty`` (lot step).

    Each rung keeps its share of the bracket; the last takes the remainder. Reduce-only
    orders are exempt from USD-M's minimum notional, so only LOT_SIZE can merge a rung into
    the next one (the last into the previous one). Rungs in ``skip`` (already executed) take
    no share unless all are skipped. Indices are the bracket's (1-based).
    """
    total = rules.round_qty(open_qty, market=True)
    if total < rules.market_min_qty or total <= 0:
        raise ProtectionError(f"open quantity {open_qty} is below {rules.symbol} LOT_SIZE")
    indexed = list(enumerate(bracket.take_profits, start=1))
    if not indexed:
        raise ProtectionError("bracket has no take-profit rung")
    legs = [(i, leg) for i, leg in indexed if i not in skip] or indexed[-1:]
    weight = sum((leg.quantity for _, leg in legs), Decimal(0))
    rungs: list[tuple[int, Decimal, Decimal]] = []
    used = carry = Decimal(0)
    for n, (i, leg) in enumerate(legs):
        last = n == len(legs) - 1
        share = total - used if last else rules.round_qty(total * leg.quantity / weight, True)
        used += share
        qty = share + carry
        if qty >= rules.market_min_qty and qty > 0:
            rungs.append((i, rules.round_price(leg.price), qty))
            carry = Decimal(0)
        else:
            carry = qty
    if carry and rungs:
        i, tp, qty = rungs[-1]
        rungs[-1] = (i, tp, qty + carry)
    return rungs


def _leg(
    snap: Snapshot, side: str, leg: str, kind: str, trigger: Decimal, qty: Decimal | None
) -> AlgoLeg:
    d, symbol = snap.id, snap.symbol
    cid = client_id(d, leg)
    order = NewAlgoOrder(
        symbol,
        side,
        kind,
        trigger,
        cid,
        quantity=qty,
        close_position=qty is None,
        reduce_only=qty is not None,
    )
    row = store.OrderRow(
        d,
        cid,
        None,
        snap.venue,
        snap.market,
        symbol,
        leg,
        side,
        kind,
        qty or Decimal(0),
        stop_price=trigger,
    )
    return AlgoLeg(order, row)


async def place_algo_leg(desk: UsdmDesk, snap: Snapshot, algo: NewAlgoOrder) -> None:
    """Send one recorded algo order and apply the answer; refusals are alerted."""
    core, decision_id = desk.core, snap.id
    try:
        report = await desk.sender.place_algo(algo)
    except RejectedError as exc:
        await _algo_refused(desk, snap, algo, exc)
        return
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} {algo.client_algo_id} not confirmed ({exc.describe()})"
        core.note_error(text)
        await core.alert("error", text + "; reconciliation will retry", decision_id)
        return
    await apply_algo(desk, snap, report, acked=True)


async def _algo_refused(
    desk: UsdmDesk, snap: Snapshot, algo: NewAlgoOrder, exc: RejectedError
) -> None:
    core, decision_id = desk.core, snap.id
    await mark_order(core, snap, algo.client_algo_id, "REJECTED", exc.describe())
    text = f"🚨 #D-{decision_id} {algo.order_type} {algo.client_algo_id} rejected: {exc.describe()}"
    core.note_error(text)
    await core.alert("error", text, decision_id)
    if isinstance(exc, WouldTriggerError):
        # The market already passed the trigger: exit what this leg covered, at market.
        await market_exit(desk, snap, algo.quantity, f"M{algo.client_algo_id.split('-')[-1]}")


async def _algo_fills(desk: UsdmDesk, snap: Snapshot, report: AlgoReport) -> list[TradeFill] | None:
    """The triggered order's trades, or ``None`` when not needed or not available."""
    if report.actual_order_id is None or report.status != "FINISHED":
        return None
    recorded, _ = snap.recorded(report.client_algo_id)
    if report.filled_qty > 0 and recorded >= report.filled_qty:
        return None  # the stream's ORDER_TRADE_UPDATE already brought them
    try:
        return await desk.venue.trades(report.symbol, report.actual_order_id)
    except VenueError as exc:
        desk.core.note_error(f"trades of {report.client_algo_id}: {exc.describe()}")
        return None


async def apply_algo(
    desk: UsdmDesk, snap: Snapshot, report: AlgoReport, acked: bool = False
) -> None:
    """Apply an algo order's state and the fills of the order it triggered (idempotent)."""
    fills = await _algo_fills(desk, snap, report) or []
    if fills:
        filled = sum((f.qty for f in fills), Decimal(0))
        quote = sum((f.qty * f.price for f in fills), Decimal(0))
    else:
        filled, quote = snap.recorded(report.client_algo_id)
    if report.status == "FINISHED":
        status = "FILLED" if filled > 0 else "EXPIRED"
        if filled == 0 and report.filled_qty > 0:
            status = "TRIGGERED"  # executed, trades not visible yet: keep it open for now
    else:
        status = _ALGO_STATUS.get(report.status, report.status)
    state = OrderState(
        report.client_algo_id,
        status,
        report.algo_id,
        filled,
        quote,
        tuple(fills),
        report.reject_reason or None,
        acked,
    )
    await apply_order_state(desk.core, snap, state)


async def refresh(desk: UsdmDesk, snap: Snapshot, row: asyncpg.Record) -> None:
    """Query one order (algo or plain) and apply what the venue says."""
    symbol, cid = row["symbol"], row["client_order_id"]
    if is_algo(row):
        await apply_algo(desk, snap, await desk.venue.query_algo(symbol, cid), acked=True)
        return
    report = await desk.venue.query_order(symbol, cid)
    await apply_report(desk.core, snap, report, acked=True, fetch_trades=True)


async def cancel(desk: UsdmDesk, snap: Snapshot, row: asyncpg.Record) -> None:
    """Cancel one working order (algo or plain) and apply its final state."""
    symbol, cid = row["symbol"], row["client_order_id"]
    try:
        if is_algo(row):
            await apply_algo(desk, snap, await desk.venue.cancel_algo(symbol, cid))
        else:
            report = await desk.venue.cancel_order(symbol, cid)
            await apply_report(desk.core, snap, report)
    except OrderNotFoundError:
        await refresh(desk, snap, row)


def executed_position(snap: Snapshot) -> Decimal:
    """The position as the venue executed it (entry side positive), from the order rows."""
    qty = Decimal(0)
    for o in snap.orders:
        qty += o["filled_quantity"] if o["side"] == snap.side else -o["filled_quantity"]
    return qty


async def market_exit(desk: UsdmDesk, snap: Snapshot, qty: Decimal | None, leg: str) -> None:
    """Close ``qty`` (all that is open when ``None``) with one reduce-only MARKET, once."""
    core, decision_id = desk.core, snap.id
    if qty is None:  # what the venue executed so far, whether or not its fills arrived yet
        qty = executed_position(await core.snapshot(decision_id))
    rules = await desk.venue.rules(snap.symbol)
    qty = rules.round_qty(qty or Decimal(0), market=True)
    if qty <= 0:
        return
    side = exit_side(snap.side)
    order = NewOrder(
        snap.symbol, side, "MARKET", qty, client_id(decision_id, leg), reduce_only=True
    )
    row = store.OrderRow(
        decision_id,
        order.client_order_id,
        None,
        core.venue_name,
        desk.name,
        order.symbol,
        leg,
        side,
        "MARKET",
        qty,
    )
    async with core.pool.acquire() as conn, conn.transaction():
        if not await store.insert_order(conn, row):
            return  # already sent once: never close twice
        await store.audit(conn, "exit.market", decision_id, {"leg": leg, "qty": qty})
    try:
        report = await desk.sender.place(order)
    except ReduceOnlyRejectedError as exc:
        await mark_order(core, snap, order.client_order_id, "REJECTED", exc.describe())
        return  # nothing left to reduce: the position is already closed
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} reduce-only {side} {qty} not confirmed: {exc.describe()}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return
    await apply_report(core, snap, report, acked=True)
