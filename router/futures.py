"""USD-M brackets: account setup and entry, then the protective algo orders.

Entry ``gl-<d>-E`` is a MARKET order after the symbol's leverage (≤ the cap) and margin type
are set. Protection is one ``STOP_MARKET closePosition=true`` (``gl-<d>-SL``) — it covers
whatever remains after each take-profit without re-placement — and one reduce-only
``TAKE_PROFIT_MARKET`` per rung (``gl-<d>-TP<i>``), all on ``/fapi/v1/algoOrder``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from greenlight.core.contracts import Bracket, Market, Side
from greenlight.core.symbols import SymbolRules
from router import lifecycle, store
from router.brackets import EntryPlan
from router.core import Core, client_id
from router.errors import RejectedError, VenueError, WouldTriggerError
from router.ladder import ProtectionError
from router.venues.base import NewAlgoOrder, NewOrder

log = logging.getLogger(__name__)


def exit_side(bracket_side: str) -> str:
    """The side that reduces a position opened on ``bracket_side``."""
    return "SELL" if bracket_side == "BUY" else "BUY"


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


async def prepare_entry(core: Core, decision_id: int, bracket: Bracket) -> EntryPlan:
    """Check the bracket, then set leverage and margin type on the venue (no order yet)."""
    venue = core.usdm()
    rules = await venue.rules(bracket.symbol)
    plan = plan_futures_entry(decision_id, bracket, rules, core.leverage_cap)
    applied = await venue.set_leverage(bracket.symbol, bracket.leverage)
    if applied != bracket.leverage:
        raise ValueError(f"venue applied leverage {applied}, asked for {bracket.leverage}")
    await venue.ensure_margin_type(bracket.symbol, core.margin_type)
    return plan


@dataclass(frozen=True)
class AlgoLeg:
    """One protective algo order with its database row."""

    order: NewAlgoOrder
    row: store.OrderRow


def plan_protection(
    decision: asyncpg.Record, bracket: Bracket, open_qty: Decimal, rules: SymbolRules
) -> list[AlgoLeg]:
    """Stop (closePosition) plus reduce-only take-profit rungs over ``open_qty``."""
    d, symbol, side = decision["id"], decision["symbol"], exit_side(bracket.side.value)
    legs = [stop_leg(decision, bracket, rules)]
    for i, tp, qty in futures_rungs(bracket, open_qty, rules):
        legs.append(_leg(d, symbol, side, f"TP{i}", "TAKE_PROFIT_MARKET", tp, qty,
                         decision["venue"]))  # fmt: skip
    return legs


def stop_leg(decision: asyncpg.Record, bracket: Bracket, rules: SymbolRules) -> AlgoLeg:
    """The ``STOP_MARKET closePosition`` leg ``gl-<d>-SL``: it covers whatever is open."""
    long = bracket.side == Side.BUY
    stop = rules.round_price(bracket.stop_price, "down" if long else "up")
    side = exit_side(bracket.side.value)
    return _leg(decision["id"], decision["symbol"], side, "SL", "STOP_MARKET", stop, None,
                decision["venue"])  # fmt: skip


def tp_leg(
    decision: asyncpg.Record, bracket: Bracket, leg: str, tp: Decimal, qty: Decimal
) -> AlgoLeg:
    """One reduce-only ``TAKE_PROFIT_MARKET`` rung named ``leg``."""
    side = exit_side(bracket.side.value)
    return _leg(decision["id"], decision["symbol"], side, leg, "TAKE_PROFIT_MARKET", tp, qty,
                decision["venue"])  # fmt: skip


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
    d: int,
    symbol: str,
    side: str,
    leg: str,
    kind: str,
    trigger: Decimal,
    qty: Decimal | None,
    venue: str,
) -> AlgoLeg:
    cid = client_id(d, leg)
    order = NewAlgoOrder(symbol, side, kind, trigger, cid, quantity=qty,
                         close_position=qty is None, reduce_only=qty is not None)  # fmt: skip
    row = store.OrderRow(d, cid, None, venue, "usdm", symbol, leg, side, kind,
                         qty or Decimal(0), stop_price=trigger)  # fmt: skip
    return AlgoLeg(order, row)


async def place_algo_leg(core: Core, decision_id: int, algo: NewAlgoOrder) -> None:
    """Send one recorded algo order and apply the answer; refusals are alerted."""
    from router.futures_lifecycle import apply_algo  # noqa: PLC0415 - mutual imports

    try:
        report = await core.usdm_sender().place_algo(algo)
    except RejectedError as exc:
        await _algo_refused(core, decision_id, algo, exc)
        return
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} {algo.client_algo_id} not confirmed ({exc.describe()})"
        core.note_error(text)
        await core.alert("error", text + "; reconciliation will retry", decision_id)
        return
    await apply_algo(core, decision_id, report, acked=True)


async def _algo_refused(
    core: Core, decision_id: int, algo: NewAlgoOrder, exc: RejectedError
) -> None:
    from router.futures_lifecycle import market_exit  # noqa: PLC0415

    await lifecycle.mark_order(core, decision_id, algo.client_algo_id, "REJECTED", exc.describe())
    text = f"🚨 #D-{decision_id} {algo.order_type} {algo.client_algo_id} rejected: {exc.describe()}"
    core.note_error(text)
    await core.alert("error", text, decision_id)
    if isinstance(exc, WouldTriggerError):
        # The market already passed the trigger: exit what this leg covered, at market.
        await market_exit(
            core, decision_id, algo.quantity, f"M{algo.client_algo_id.split('-')[-1]}"
        )
