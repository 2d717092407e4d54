"""A spot bracket before it is routed: its entry order and its place among the symbol's
order-count filters (:mod:`router.order_budget`)."""

from __future__ import annotations

from typing import Any

import asyncpg

from greenlight.core.contracts import Bracket, Market, Side
from greenlight.core.symbols import SymbolRules
from router.core import client_id
from router.ladder import parse_leg
from router.markets.base import EntryPlan
from router.markets.desks import SpotDesk
from router.order_budget import Slots, count_resting, fit_ladder, peak_need
from router.venues.base import TERMINAL_STATUSES, NewOrder, OrderReport


def plan_entry(decision_id: int, bracket: Bracket, rules: SymbolRules) -> EntryPlan:
    """Round the bracket's entry to the filters; ``ValueError`` names what is wrong."""
    if bracket.market != Market.SPOT or bracket.side != Side.BUY:
        raise ValueError(
            f"spot router places long brackets only (got {bracket.side} {bracket.market})"
        )
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


async def admit_ladder(desk: SpotDesk, decision_id: int, bracket: Bracket) -> Bracket:
    """The bracket with its take-profit ladder merged so that the whole protection fits the
    symbol's order-count filters next to what rests there (``ValueError`` when none fits)."""
    rules = await desk.venue.rules(bracket.symbol)
    resting = await desk.venue.open_orders(bracket.symbol)
    used = count_resting(o.order_type for o in resting)
    used += await reserved(desk, decision_id, bracket.symbol, resting)
    return fit_ladder(bracket, rules, used)


async def reserved(
    desk: SpotDesk, decision_id: int, symbol: str, resting: list[OrderReport]
) -> Slots:
    """Slots our other live spot brackets on ``symbol`` will still take beyond what they
    already rest: the full plan while the entry works, the unexecuted rungs after it."""
    async with desk.core.pool.acquire() as conn:
        live = await conn.fetch(
            "SELECT id, bracket FROM decisions WHERE state IN ('ROUTED', 'OPEN')"
            " AND market = $3 AND symbol = $1 AND id <> $2",
            symbol,
            decision_id,
            desk.name,
        )
        orders = await conn.fetch(
            "SELECT decision_id, leg, status, filled_quantity FROM orders"
            " WHERE decision_id = ANY($1::bigint[])",
            [d["id"] for d in live],
        )
    total = Slots(0, 0)
    for d in live:
        mine = [o for o in orders if o["decision_id"] == d["id"]]
        need = _still_needed(d["bracket"], mine)
        prefix = f"gl-{d['id']}-"
        rests = count_resting(o.order_type for o in resting if o.client_order_id.startswith(prefix))
        total += (need - rests).floor()
    return total


def _still_needed(raw: dict[str, Any], orders: list[asyncpg.Record]) -> Slots:
    rungs = len(raw.get("take_profits") or ())
    entry = next((o for o in orders if o["leg"] == "E"), None)
    if entry is None or entry["status"] not in TERMINAL_STATUSES:
        return peak_need(rungs, raw.get("entry_type") == "LIMIT")
    executed = {p[1] for o in orders if (p := parse_leg(o["leg"])) and o["filled_quantity"] > 0}
    return peak_need(rungs - len(executed), False)
