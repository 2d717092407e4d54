"""Admitting an approved bracket before its entry is sent: the router's own checks
(:mod:`router.bracket_checks`) against the account's equity, then the market's own limits
(on spot the whole protection planned against the symbol's order-count filters,
:mod:`router.markets.spot_entry`).

:func:`admit` runs under the symbol's lock until the decision is claimed, so two brackets
on one symbol are planned one after the other and each sees what the other reserved.
"""

from __future__ import annotations

from decimal import Decimal

from greenlight.core import store as core_store
from greenlight.core.contracts import Bracket
from router.bracket_checks import refusal
from router.core import Core
from router.errors import TemporaryError
from router.markets.base import Market


class BracketRefused(ValueError):
    """The router's own checks refuse the bracket; the message is the reason."""


async def account_equity(core: Core, market: Market) -> Decimal | None:
    """The account equity the router checks brackets against on ``market``.

    The one place the router reads equity for its checks: the figure it last published to
    ``control`` (:mod:`router.equity`), or, before the first publication, what the venue
    reports now. ``None`` when neither is known.
    """
    async with core.pool.acquire() as conn:
        published = await core_store.equity_quote(conn, market.name)
    if published is not None:
        return published
    return await market.account_equity()


async def admit(core: Core, market: Market, decision_id: int, bracket: Bracket) -> Bracket:
    """The bracket to route: checked, and with its take-profit ladder merged where the
    market's limits ask for it.

    Raises :class:`BracketRefused` (the decision fails with that reason), or
    :class:`router.errors.TemporaryError` when equity or the venue cannot be read now.
    """
    equity = await account_equity(core, market)
    if equity is None:
        raise TemporaryError("account equity unknown (not published yet, venue has no balance)")
    reason = refusal(bracket, equity, core.limits, market.carry, core.leverage_cap)
    if reason is not None:
        raise BracketRefused(f"router check: {reason}")
    try:
        return await market.admit_ladder(decision_id, bracket)
    except ValueError as exc:
        raise BracketRefused(str(exc)) from exc
