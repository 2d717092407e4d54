"""Which orders fill in slices (the ``partial_fill`` fault) — shared by both engines."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal

Picker = Callable[[str, str], int | None]  # (symbol, client order id) → slices or None


class Slicer:
    """Slice sizes of the orders picked by the ``partial_fill`` fault, and which of them
    already took their slice in the current replay step."""

    def __init__(self) -> None:
        self.picker: Picker | None = None
        self.size: dict[int, Decimal] = {}
        self.now: set[int] = set()

    def pick(
        self, order_id: int, symbol: str, client_id: str, qty: Decimal, step: Decimal, tif: str
    ) -> None:
        """Ask the picker about a new order (FOK orders are never sliced)."""
        if self.picker is None or tif == "FOK" or order_id in self.size:
            return
        n = self.picker(symbol, client_id)
        if n:
            units = (qty / n / step).to_integral_value(rounding=ROUND_CEILING)
            self.size[order_id] = max(units, Decimal(1)) * step

    def sliced(self, order_id: int) -> bool:
        """Whether the order fills in slices."""
        return order_id in self.size

    def cap(self, order_id: int, qty: Decimal) -> Decimal:
        """The quantity to fill now (one slice for a sliced order, marking the step)."""
        size = self.size.get(order_id)
        if size is None:
            return qty
        self.now.add(order_id)
        return min(qty, size)

    def done_this_step(self, order_id: int) -> bool:
        """Whether a sliced order already took its slice in this step."""
        return order_id in self.now

    def next_step(self) -> None:
        """A new replay step begins."""
        self.now.clear()

    def forget(self, order_id: int) -> None:
        """The order is closed."""
        self.size.pop(order_id, None)
