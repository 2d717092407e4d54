"""Split a filled position into take-profit rungs that each satisfy the symbol's filters."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.contracts import Bracket
from engine.symbols import SymbolRules


class ProtectionError(ValueError):
    """The filled quantity cannot be covered by any valid protective order."""


@dataclass(frozen=True)
class Rung:
    """One protective OCO: sell ``quantity`` at ``take_profit`` or at ``stop``."""

    index: int
    take_profit: Decimal
    stop: Decimal
    quantity: Decimal


def _valid(rules: SymbolRules, tp: Decimal, stop: Decimal, qty: Decimal) -> bool:
    return qty > 0 and rules.check(tp, qty) is None and rules.check(stop, qty) is None


def split_rungs(bracket: Bracket, net_quantity: Decimal, rules: SymbolRules) -> list[Rung]:
    """Re-split the bracket's rungs against the actual net filled quantity.

    Each rung keeps its share of the bracket's quantity, rounded down to the lot step; the
    last rung takes the remainder, so the rungs sum to the net quantity rounded down to the
    step and the stop always covers the whole position. A rung that would break
    LOT_SIZE/NOTIONAL is merged into the next one (the last into the previous one).
    """
    if net_quantity <= 0:
        raise ProtectionError(f"nothing to protect: net quantity {net_quantity}")
    stop = rules.round_price(bracket.stop_price, "down")
    legs = bracket.take_profits
    if not legs:
        raise ProtectionError("bracket has no take-profit rung")
    total = sum((leg.quantity for leg in legs), Decimal(0))
    raw: list[tuple[Decimal, Decimal]] = []
    used = Decimal(0)
    for i, leg in enumerate(legs):
        tp = rules.round_price(leg.price, "up")
        if i == len(legs) - 1:
            qty = rules.round_qty(net_quantity - used)
        else:
            share = leg.quantity / total if total > 0 else Decimal(1) / len(legs)
            qty = rules.round_qty(net_quantity * share)
        used += qty
        raw.append((tp, qty))
    merged: list[tuple[Decimal, Decimal]] = []
    carry = Decimal(0)
    for tp, qty in raw:
        if _valid(rules, tp, stop, qty + carry):
            merged.append((tp, qty + carry))
            carry = Decimal(0)
        else:
            carry += qty
    if carry:
        if not merged:
            raise ProtectionError(
                f"net quantity {net_quantity} {rules.base_asset} is too small for a valid "
                f"protective order on {rules.symbol} (min notional {rules.min_notional})"
            )
        tp, qty = merged[-1]
        merged[-1] = (tp, qty + carry)
    return [Rung(i + 1, tp, stop, qty) for i, (tp, qty) in enumerate(merged)]
