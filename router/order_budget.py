"""Planning a spot bracket's whole protection against the symbol's order-count filters.

Each take-profit rung rests as one OCO: a ``LIMIT_MAKER`` and a ``STOP_LOSS``, i.e. two
orders of which one counts towards ``MAX_NUM_ALGO_ORDERS`` (Binance counts ``STOP_LOSS*``
and ``TAKE_PROFIT*`` orders as algo orders; the limit is 5 per symbol on real spot markets).
A LIMIT entry rests as an OTOCO (the working entry plus rung 1's pending OCO) and, while it
fills partly, :mod:`router.markets.spot_protect` covers the fills with a full set of rungs
beside the pending legs. Before the entry is sent the router counts what already rests on the symbol
(any order of the account, the trader's own included, plus what our other live brackets
will still add) and merges the outermost take-profit rungs until the protection fits —
or refuses the bracket when not even one rung does. The entry is never sent for a position
the venue would not let us protect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules

ALGO_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})


@dataclass(frozen=True)
class Slots:
    """A number of open orders, and how many of them are algo (stop) orders."""

    orders: int
    algo: int

    def __add__(self, other: Slots) -> Slots:
        return Slots(self.orders + other.orders, self.algo + other.algo)

    def __sub__(self, other: Slots) -> Slots:
        return Slots(self.orders - other.orders, self.algo - other.algo)

    def floor(self) -> Slots:
        """Negative counts as zero."""
        return Slots(max(self.orders, 0), max(self.algo, 0))

    def fits(self, free: Slots) -> bool:
        """Whether this many orders fit into ``free``."""
        return self.orders <= free.orders and self.algo <= free.algo


def peak_need(rungs: int, limit_entry: bool) -> Slots:
    """The most orders a spot bracket with ``rungs`` protective OCOs rests at one time.

    A MARKET entry does not rest (its one slot at placement is within the rungs' count);
    a LIMIT entry adds the working entry and rung 1's pending OCO.
    """
    if rungs <= 0:
        return Slots(0, 0)
    return Slots(2 * rungs, rungs) + (Slots(3, 1) if limit_entry else Slots(0, 0))


def count_resting(order_types: Iterable[str]) -> Slots:
    """Open orders (by their venue order type) as slots used."""
    types = list(order_types)
    return Slots(len(types), sum(1 for t in types if t in ALGO_TYPES))


def capacity(rules: SymbolRules) -> Slots:
    """The symbol's ``MAX_NUM_ORDERS`` and ``MAX_NUM_ALGO_ORDERS``."""
    return Slots(rules.max_num_orders, rules.max_num_algo_orders)


def merge_ladder(bracket: Bracket, rungs: int) -> Bracket:
    """The bracket with at most ``rungs`` take-profits: rungs ``rungs``… are merged into one
    rung at the nearest of their prices, carrying their combined quantity."""
    legs = bracket.take_profits
    if rungs < 1 or len(legs) <= rungs:
        return bracket
    tail = legs[rungs - 1 :]
    total = sum((leg.quantity for leg in tail), Decimal(0))
    merged = tail[0].model_copy(update={"quantity": total})
    return bracket.model_copy(update={"take_profits": (*legs[: rungs - 1], merged)})


class NoRoomError(ValueError):
    """Not even one protective rung fits the symbol's order-count filters."""


def fit_ladder(bracket: Bracket, rules: SymbolRules, used: Slots) -> Bracket:
    """The bracket whose whole protection fits next to ``used`` slots (merged if needed).

    Raises :class:`NoRoomError` naming the filters when not even one rung fits.
    """
    free = (capacity(rules) - used).floor()
    limit_entry = bracket.entry_type == "LIMIT"
    for rungs in range(len(bracket.take_profits), 0, -1):
        if peak_need(rungs, limit_entry).fits(free):
            return merge_ladder(bracket, rungs)
    need = peak_need(1, limit_entry)
    raise NoRoomError(
        f"protection does not fit {rules.symbol}'s order limits: one take-profit rung needs"
        f" {need.orders} orders ({need.algo} stop orders) but only {free.orders} of"
        f" MAX_NUM_ORDERS {rules.max_num_orders} and {free.algo} of MAX_NUM_ALGO_ORDERS"
        f" {rules.max_num_algo_orders} are free ({used.orders} orders, {used.algo} stop orders"
        " resting or reserved for live brackets)"
    )
