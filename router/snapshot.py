"""One decision as the router sees it at one moment: the decision row, its orders and its
fills, read together under the decision's lock and never changed afterwards.

The router's steps take a :class:`Snapshot` instead of a decision id: what they need to know
about the decision is in it, so no step reads the rows again on its own. A step that changed
orders and must see the result asks for a fresh snapshot (:func:`load`) — explicitly, in the
flow that owns the decision's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

import asyncpg

from greenlight.core.contracts import Bracket
from router.venues.base import TERMINAL_STATUSES

ZERO = Decimal(0)


def parse_bracket(raw: object) -> Bracket:
    """The decision's bracket JSON as a typed :class:`Bracket` (``ValueError`` if invalid)."""
    return Bracket.model_validate(raw)


@dataclass(frozen=True)
class Snapshot:
    """A decision with its orders (oldest first) and fills, as read at one moment."""

    decision: asyncpg.Record
    orders: tuple[asyncpg.Record, ...]
    fills: tuple[asyncpg.Record, ...]

    @property
    def id(self) -> int:
        """The decision's id."""
        decision_id: int = self.decision["id"]
        return decision_id

    @property
    def market(self) -> str:
        """``spot`` or ``usdm``: which market implementation handles the decision."""
        market: str = self.decision["market"]
        return market

    @property
    def symbol(self) -> str:
        """The traded symbol."""
        symbol: str = self.decision["symbol"]
        return symbol

    @property
    def side(self) -> str:
        """The entry's side (``BUY`` or ``SELL``)."""
        side: str = self.decision["side"]
        return side

    @property
    def state(self) -> str:
        """The decision's state when the snapshot was read."""
        state: str = self.decision["state"]
        return state

    @property
    def venue(self) -> str:
        """The venue name recorded with the decision."""
        venue: str = self.decision["venue"]
        return venue

    @cached_property
    def bracket(self) -> Bracket:
        """The bracket as stored (the admitted one once routed); ``ValueError`` if invalid."""
        return parse_bracket(self.decision["bracket"])

    @property
    def entry(self) -> asyncpg.Record | None:
        """The entry order's row, if recorded."""
        return next((o for o in self.orders if o["leg"] == "E"), None)

    def order(self, client_order_id: str) -> asyncpg.Record | None:
        """One order row by client id."""
        return next((o for o in self.orders if o["client_order_id"] == client_order_id), None)

    @property
    def working(self) -> list[asyncpg.Record]:
        """Orders not in a terminal status."""
        return [o for o in self.orders if o["status"] not in TERMINAL_STATUSES]

    def recorded(self, client_order_id: str) -> tuple[Decimal, Decimal]:
        """Quantity and quote of the fills recorded for one order."""
        mine = [f for f in self.fills if f["client_order_id"] == client_order_id]
        qty = sum((f["quantity"] for f in mine), ZERO)
        quote = sum((f["quantity"] * f["price"] for f in mine), ZERO)
        return qty, quote

    def fills_complete(self, row: asyncpg.Record) -> bool:
        """Whether the fills recorded for ``row`` cover what the venue executed."""
        return bool(self.recorded(row["client_order_id"])[0] >= row["filled_quantity"])

    @property
    def fills_pending(self) -> bool:
        """Whether an order executed more than the fills recorded for it so far."""
        return any(not self.fills_complete(o) for o in self.orders)


async def load(conn: asyncpg.Connection, decision_id: int) -> Snapshot | None:
    """Read a decision, its orders and its fills (``None`` when there is no such decision)."""
    decision = await conn.fetchrow("SELECT * FROM decisions WHERE id = $1", decision_id)
    if decision is None:
        return None
    orders = await conn.fetch(
        "SELECT * FROM orders WHERE decision_id = $1 ORDER BY id", decision_id
    )
    fills = await conn.fetch("SELECT * FROM fills WHERE decision_id = $1 ORDER BY id", decision_id)
    return Snapshot(decision, tuple(orders), tuple(fills))
