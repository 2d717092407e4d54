"""USD-M protection that follows the open position while the entry fills.

- The stop ``gl-<d>-SL`` is one ``STOP_MARKET closePosition=true``: placed as soon as any
  quantity is open, it closes exactly what is open whenever it fires, so it never needs
  re-sizing.
- The take-profit ladder is reduce-only ``TAKE_PROFIT_MARKET`` rungs whose quantities must
  sum to the open position (at the lot step). After each change :func:`align` re-splits the
  open quantity over the rungs that have not executed, keeps rungs that already match,
  cancels the others and places the missing ones as a new generation (``TP2r1`` …).

The open quantity is what the venue executed (``orders.filled_quantity``), not our recorded
fills, because USD-M order responses carry no trades (they arrive on the stream later).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules
from router import alerts, store
from router.ladder import ProtectionError, parse_leg, rung_leg
from router.markets.desks import UsdmDesk
from router.markets.usdm_orders import (
    AlgoLeg,
    cancel,
    executed_position,
    futures_rungs,
    place_algo_leg,
    stop_leg,
    tp_leg,
)
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES

log = logging.getLogger(__name__)


async def align(desk: UsdmDesk, snap: Snapshot) -> None:
    """Place the stop once and keep the take-profit ladder equal to the open position."""
    core, decision_id, orders = desk.core, snap.id, list(snap.orders)
    if any(o["status"] == "NEW_PENDING" for o in orders if o["leg"] != "E"):
        return  # an unknown outcome is settled by reconciliation first
    rules = await desk.venue.rules(snap.symbol)
    bracket = snap.bracket
    open_qty = rules.round_qty(executed_position(snap), market=True)
    if open_qty <= 0:
        return
    first = not any(o["leg"] != "E" for o in orders)
    if not any(o["leg"] == "SL" for o in orders):
        await _place(desk, snap, [stop_leg(snap, bracket, rules)])
    try:
        plan = _tp_plan(snap, bracket, orders, open_qty, rules)
    except ProtectionError as exc:
        text = f"🚨 #D-{decision_id} take-profits not placed: {exc}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return
    if plan is None:
        return
    legs, stale, ideal = plan
    for row in stale:  # never more reduce-only quantity than the position
        await cancel(desk, snap, row)
    await _place(desk, snap, legs)
    if first:
        text = alerts.protected_text(
            rules,
            stop_leg(snap, bracket, rules).order.trigger_price,
            [t for _, t, _ in ideal],
            decision_id,
        )
        await core.alert("info", text, decision_id)


async def _place(desk: UsdmDesk, snap: Snapshot, legs: list[AlgoLeg]) -> None:
    if not legs:
        return
    async with desk.core.pool.acquire() as conn, conn.transaction():
        for leg in legs:
            await store.insert_order(conn, leg.row)
        plan = [
            {
                "cid": leg.order.client_algo_id,
                "trigger": leg.order.trigger_price,
                "qty": leg.order.quantity,
            }
            for leg in legs
        ]
        await store.audit(conn, "protect.planned", snap.id, {"algo": plan})
    for leg in legs:
        await place_algo_leg(desk, snap, leg.order)


TpPlan = tuple[list[AlgoLeg], list[asyncpg.Record], list[tuple[int, Decimal, Decimal]]]


def _tp_plan(
    snap: Snapshot,
    bracket: Bracket,
    orders: list[asyncpg.Record],
    open_qty: Decimal,
    rules: SymbolRules,
) -> TpPlan | None:
    """Take-profit legs to place, rows to cancel and the target ladder (``None``: in place)."""
    tps = [(p, o) for o in orders if (p := parse_leg(o["leg"])) is not None and p[0] == "TP"]
    live = [(p, o) for p, o in tps if o["status"] not in TERMINAL_STATUSES]
    covered = sum((o["quantity"] - o["filled_quantity"] for _, o in live), Decimal(0))
    if covered == open_qty:
        return None
    executed = {p[1] for p, o in tps if o["filled_quantity"] > 0}
    gens: dict[int, int] = {}
    for p, _ in tps:
        gens[p[1]] = max(gens.get(p[1], 0), p[2])
    ideal = futures_rungs(bracket, open_qty, rules, executed)
    by_index: dict[int, list[asyncpg.Record]] = {}
    for p, o in live:
        by_index.setdefault(p[1], []).append(o)
    legs: list[AlgoLeg] = []
    stale: list[asyncpg.Record] = []
    for i, tp, qty in ideal:
        have = by_index.pop(i, [])
        if len(have) == 1 and have[0]["quantity"] - have[0]["filled_quantity"] == qty:
            continue
        stale += have
        leg = rung_leg("TP", i, gens[i] + 1 if i in gens else 0)
        legs.append(tp_leg(snap, bracket, leg, tp, qty))
    stale += [o for rest in by_index.values() for o in rest]
    return legs, stale, ideal
