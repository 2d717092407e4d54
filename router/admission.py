"""Admitting an approved bracket before its entry is sent: the router's own checks
(:mod:`router.bracket_checks`) against the account's equity, then, on spot, the whole
protection planned against the symbol's order-count filters (:mod:`router.order_budget`).

:func:`admit` runs under the symbol's lock until the decision is claimed, so two brackets
on one symbol are planned one after the other and each sees what the other reserved.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core import store as core_store
from greenlight.core.contracts import Bracket, Market
from router.bracket_checks import refusal
from router.core import Core
from router.equity import QUOTE
from router.errors import TemporaryError
from router.ladder import parse_leg
from router.order_budget import Slots, count_resting, fit_ladder, peak_need
from router.venues.base import TERMINAL_STATUSES, OrderReport


class BracketRefused(ValueError):
    """The router's own checks refuse the bracket; the message is the reason."""


async def account_equity(core: Core, market: str) -> Decimal | None:
    """The account equity the router checks brackets against (``spot`` or ``usdm``).

    The one place the router reads equity for its checks: the figure it last published to
    ``control`` (:mod:`router.equity`), or, before the first publication, the venue's
    balance of the quote asset read now. ``None`` when neither is known.
    """
    async with core.pool.acquire() as conn:
        published = await core_store.equity_quote(conn, market)
    if published is not None:
        return published
    if market == Market.USDM.value:
        balance = (await core.usdm().balances()).get(QUOTE)
        return balance.wallet + balance.unrealized_pnl if balance is not None else None
    return (await core.venue.balances()).get(QUOTE)


async def admit(core: Core, decision_id: int, bracket: Bracket) -> Bracket:
    """The bracket to route: checked, and on spot with its take-profit ladder merged so that
    the whole protection fits the symbol's order-count filters.

    Raises :class:`BracketRefused` (the decision fails with that reason), or
    :class:`router.errors.TemporaryError` when equity or the venue cannot be read now.
    """
    equity = await account_equity(core, bracket.market.value)
    if equity is None:
        raise TemporaryError("account equity unknown (not published yet, venue has no balance)")
    reason = refusal(bracket, equity, core.limits, core.leverage_cap)
    if reason is not None:
        raise BracketRefused(f"router check: {reason}")
    if bracket.market != Market.SPOT:
        return bracket  # USD-M protection is algo orders: no per-symbol count filter
    rules = await core.rules(bracket.symbol)
    resting = await core.venue.open_orders(bracket.symbol)
    used = count_resting(o.order_type for o in resting)
    used += await reserved(core, decision_id, bracket.symbol, resting)
    try:
        return fit_ladder(bracket, rules, used)
    except ValueError as exc:
        raise BracketRefused(str(exc)) from exc


async def reserved(core: Core, decision_id: int, symbol: str, resting: list[OrderReport]) -> Slots:
    """Slots our other live spot brackets on ``symbol`` will still take beyond what they
    already rest: the full plan while the entry works, the unexecuted rungs after it."""
    async with core.pool.acquire() as conn:
        live = await conn.fetch(
            "SELECT id, bracket FROM decisions WHERE state IN ('ROUTED', 'OPEN')"
            " AND market = 'spot' AND symbol = $1 AND id <> $2",
            symbol,
            decision_id,
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
