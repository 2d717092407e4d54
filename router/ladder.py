"""Split a filled position into take-profit rungs that each satisfy the symbol's filters.

Leg names: rung ``i`` of generation ``g`` is ``TP<i>`` / ``SL<i>`` in list ``L<i>`` for the
first generation and ``TP<i>r<g>`` / ``SL<i>r<g>`` / ``L<i>r<g>`` after a re-size (the
protection grows with partial fills of the entry, see :mod:`router.markets.spot_protect`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules

_LEG = re.compile(r"^(TP|SL|L)(\d+)(?:r(\d+))?$")


class ProtectionError(ValueError):
    """The filled quantity cannot be covered by any valid protective order."""


@dataclass(frozen=True)
class Rung:
    """One protective OCO: sell ``quantity`` at ``take_profit`` or at ``stop``."""

    index: int
    take_profit: Decimal
    stop: Decimal
    quantity: Decimal
    gen: int = 0

    def leg(self, prefix: str) -> str:
        """This rung's leg name for ``prefix`` (``TP``, ``SL`` or ``L`` for the list)."""
        return rung_leg(prefix, self.index, self.gen)


def rung_leg(prefix: str, index: int, gen: int = 0) -> str:
    """``TP2`` for generation 0, ``TP2r1`` after one re-size."""
    return f"{prefix}{index}" + (f"r{gen}" if gen else "")


def parse_leg(leg: str) -> tuple[str, int, int] | None:
    """``"SL2r1"`` → ``("SL", 2, 1)``; ``None`` for legs that are not ladder legs."""
    m = _LEG.match(leg)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3) or 0)


def _valid(rules: SymbolRules, tp: Decimal, stop: Decimal, qty: Decimal) -> bool:
    return qty > 0 and rules.check(tp, qty) is None and rules.check(stop, qty) is None


def split_rungs(
    bracket: Bracket, net_quantity: Decimal, rules: SymbolRules, skip: Collection[int] = ()
) -> list[Rung]:
    """Re-split the bracket's rungs against the actual net filled quantity.

    Each rung keeps its share of the bracket's quantity, rounded down to the lot step; the
    last rung takes the remainder, so the rungs sum to the net quantity rounded down to the
    step and the stop always covers the whole position. A rung that would break
    LOT_SIZE/NOTIONAL is merged into the next one (the last into the previous one). Rungs
    whose index is in ``skip`` (already executed) take no share, unless all are skipped, in
    which case the last rung takes everything. Indices are the bracket's (1-based).
    """
    if net_quantity <= 0:
        raise ProtectionError(f"nothing to protect: net quantity {net_quantity}")
    stop = rules.round_price(bracket.stop_price, "down")
    indexed = [(i, leg) for i, leg in enumerate(bracket.take_profits, start=1)]
    if not indexed:
        raise ProtectionError("bracket has no take-profit rung")
    legs = [(i, leg) for i, leg in indexed if i not in skip] or indexed[-1:]
    total = sum((leg.quantity for _, leg in legs), Decimal(0))
    raw: list[tuple[int, Decimal, Decimal]] = []
    used = Decimal(0)
    for n, (i, leg) in enumerate(legs):
        if n == len(legs) - 1:
            qty = rules.round_qty(net_quantity - used)
        else:
            share = leg.quantity / total if total > 0 else Decimal(1) / len(legs)
            qty = rules.round_qty(net_quantity * share)
        used += qty
        raw.append((i, rules.round_price(leg.price, "up"), qty))
    merged: list[tuple[int, Decimal, Decimal]] = []
    carry = Decimal(0)
    for i, tp, qty in raw:
        if _valid(rules, tp, stop, qty + carry):
            merged.append((i, tp, qty + carry))
            carry = Decimal(0)
        else:
            carry += qty
    if carry:
        if not merged:
            raise ProtectionError(
                f"net quantity {net_quantity} {rules.base_asset} is too small for a valid "
                f"protective order on {rules.symbol} (min notional {rules.min_notional})"
            )
        i, tp, qty = merged[-1]
        merged[-1] = (i, tp, qty + carry)
    return [Rung(i, tp, stop, qty) for i, tp, qty in merged]
