"""The periodic side of reconciliation: spot what the venue knows and the database does not.

A fill the user stream lost without a disconnect triggers no reconnect, so nothing else
would ever look at it. Every ``router.reconcile_interval_s`` the router therefore reads each
live decision's orders from the venue (read-only, no lock) and marks the decisions whose
orders differ: a status or executed quantity the database does not have, fills missing, an
order the venue never received (once its request can no longer be in flight). Only those are
then reconciled for real, a short grace later, so that an event still travelling on a healthy
stream is not mistaken for a lost one.

:class:`DifferenceMemory` keeps account-level alerts (positions, balances, foreign orders)
from repeating every pass, and on periodic passes lets a difference through only once it
was seen twice in a row (a fill in flight makes the books differ for a moment).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg

from greenlight.core.symbols import SymbolRules
from router import reconcile_usdm, store
from router.core import Core
from router.errors import OrderNotFoundError, VenueError
from router.venues.base import TERMINAL_STATUSES

log = logging.getLogger(__name__)
ZERO = Decimal(0)


class DifferenceMemory:
    """Which account-level differences were reported, and which a periodic pass saw once."""

    def __init__(self) -> None:
        self._seen: dict[str, object] = {}
        self._reported: dict[str, object] = {}

    def report(self, key: str, value: object | None, confirm: bool) -> bool:
        """Whether to alert ``value`` (``None``: no difference) for ``key`` now.

        Each distinct difference is reported once; with ``confirm`` only when the previous
        pass saw the very same difference.
        """
        if value is None:
            self._seen.pop(key, None)
            self._reported.pop(key, None)
            return False
        if self._reported.get(key) == value:
            return False
        first_sight = self._seen.get(key) != value
        self._seen[key] = value
        if confirm and first_sight:
            return False
        self._reported[key] = value
        return True


def activation_only(db: tuple[str, Decimal], venue: tuple[str, Decimal]) -> bool:
    """A pending OTOCO leg that the venue activated when the entry filled: no execution
    report announces it (the simulator sends none), so it is applied quietly, not counted."""
    return db[0] == "PENDING_NEW" and venue[0] == "NEW" and db[1] == venue[1]


async def suspects(core: Core, live: list[asyncpg.Record], unknown: set[str]) -> set[int]:
    """Ids of live decisions whose orders differ from the venue (``unknown``: client ids
    already reported as unknown to the venue, not suspected again)."""
    found: set[int] = set()
    for decision in live:
        try:
            if await _differs(core, decision, unknown):
                found.add(decision["id"])
        except VenueError as exc:
            core.note_error(f"periodic check #D-{decision['id']}: {exc.describe()}")
    return found


async def _differs(core: Core, decision: asyncpg.Record, unknown: set[str]) -> bool:
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT o.*, (SELECT coalesce(sum(f.quantity), 0) FROM fills f"
            " WHERE f.client_order_id = o.client_order_id) AS recorded,"
            " extract(epoch FROM clock_timestamp() - o.created_at)::float8 AS age"
            " FROM orders o WHERE o.decision_id = $1 ORDER BY o.id",
            decision["id"],
        )
    settle = core.sender_for(decision["market"]).settle_s
    for row in rows:
        if row["status"] in TERMINAL_STATUSES:
            if row["recorded"] < row["filled_quantity"]:
                return True  # executed on the venue, fills never arrived
            continue
        view = await _venue_view(core, decision["market"], row)
        if view is None:
            if row["status"] == "NEW_PENDING":
                if row["age"] > settle:
                    return True  # provably never placed: reconciliation decides
                continue  # its request may still be in flight
            if row["client_order_id"] not in unknown:
                return True
            continue
        if view != (row["status"], row["filled_quantity"]):
            ours = (row["status"], row["filled_quantity"])
            log.info("periodic check: %s venue %s, db %s", row["client_order_id"], view, ours)
            return True
    return False


async def _venue_view(core: Core, market: str, row: asyncpg.Record) -> tuple[str, Decimal] | None:
    """The order's status and executed quantity on the venue; ``None`` if it is unknown."""
    if market == "usdm":
        report = await reconcile_usdm.query(core, row)
        return None if report is None else reconcile_usdm.venue_view(report)
    try:
        spot = await core.venue.query_order(row["symbol"], row["client_order_id"])
    except OrderNotFoundError:
        return None
    return spot.status, spot.executed_qty


async def spot_holdings(
    core: Core, live: list[asyncpg.Record], memory: DifferenceMemory, confirm: bool
) -> int:
    """Base assets the venue holds less of than our open spot positions (someone sold
    them, or fills we never saw); alerted, never overwritten. Holding more is normal."""
    symbols = sorted({d["symbol"] for d in live if d["market"] != "usdm"})
    if not symbols:
        return 0
    try:
        held = await core.venue.balances()
    except VenueError as exc:
        core.note_error(f"reconcile spot balances: {exc.describe()}")
        return 0
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT symbol, sum(open_quantity) AS q FROM positions"
            " WHERE market = 'spot' AND state = 'OPEN' GROUP BY symbol"
        )
    open_qty = {r["symbol"]: r["q"] for r in rows}
    ours: dict[str, Decimal] = {}
    rules_of: dict[str, SymbolRules] = {}
    for symbol in symbols:
        rules = await core.rules(symbol)
        rules_of[rules.base_asset] = rules
        ours[rules.base_asset] = ours.get(rules.base_asset, ZERO) + open_qty.get(symbol, ZERO)
    diffs = 0
    for asset, qty in sorted(ours.items()):
        venue_qty = held.get(asset, ZERO)
        short = rules_of[asset].round_qty(qty - venue_qty) > 0
        diffs += short
        value = (qty, venue_qty) if short else None
        if memory.report(f"spot-holding:{asset}", value, confirm):
            await _holding_alert(core, asset, qty, venue_qty)
    return diffs


async def _holding_alert(core: Core, asset: str, ours: Decimal, held: Decimal) -> None:
    detail = {"asset": asset, "db_open": ours, "venue": held}
    log.warning("spot holding difference %s", detail)
    text = (f"🚨 Spot {asset}: open positions hold {ours}, the venue only {held}"
            " — not overwritten, check manually")  # fmt: skip
    async with core.pool.acquire() as conn, conn.transaction():
        await store.audit(conn, "reconcile.holding_difference", None, detail)
        await store.alert(conn, "error", text, None)
