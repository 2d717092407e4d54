"""Spot reconciliation: one decision's orders against the venue, then the account (our
open orders the database does not know, holdings below our open positions).

Differences are logged, audited, alerted and counted before the venue's (monotonic)
progress is applied; an order the venue never saw is sent again only when it was provably
never placed (and the decision may still be entered, :func:`router.reports.may_resend_entry`).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core.symbols import SymbolRules
from router import alerts, store
from router.differences import DifferenceMemory
from router.errors import OrderNotFoundError, VenueError
from router.ladder import Rung, parse_leg
from router.markets.desks import SpotDesk
from router.markets.spot_entry import plan_entry
from router.markets.spot_otoco import plan_otoco, send_otoco
from router.markets.spot_protect import place_rung
from router.reports import NO_RESEND, apply_report, mark_order, may_resend_entry, send_entry
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, OrderReport

log = logging.getLogger(__name__)
ZERO = Decimal(0)


def activation_only(db: tuple[str, Decimal], venue: tuple[str, Decimal]) -> bool:
    """A pending OTOCO leg that the venue activated when the entry filled: no execution
    report announces it (the simulator sends none), so it is applied quietly, not counted."""
    return db[0] == "PENDING_NEW" and venue[0] == "NEW" and db[1] == venue[1]


async def decision(desk: SpotDesk, snap: Snapshot, unknown: set[str]) -> int:
    """Reconcile one live spot decision's orders; return the number of differences."""
    diffs = 0
    done_lists: set[str] = set()
    for row in snap.orders:
        if row["status"] in TERMINAL_STATUSES and snap.fills_complete(row):
            continue
        report = await _settled_query(desk, row)
        if report is None:
            diffs += await _missing(desk, snap, row, unknown, done_lists)
            continue
        diffs += await _compare(desk, snap, row, report)
    return diffs


async def _settled_query(desk: SpotDesk, row: asyncpg.Record) -> OrderReport | None:
    """The venue's report of an order, or ``None`` once it provably never arrived.

    A ``NEW_PENDING`` row may belong to a request still in flight (a process that died
    right after sending it): only after its recvWindow has passed can "not found" be
    trusted, so a young row is queried again once that time is up.
    """
    symbol, cid = row["symbol"], row["client_order_id"]
    try:
        return await desk.venue.query_order(symbol, cid)
    except OrderNotFoundError:
        if row["status"] != "NEW_PENDING":
            return None
    async with desk.core.pool.acquire() as conn:
        age = await conn.fetchval(
            "SELECT extract(epoch FROM clock_timestamp() - created_at)::float8"
            " FROM orders WHERE client_order_id = $1",
            cid,
        )
    wait = desk.sender.settle_s - float(age)
    if wait <= 0:
        return None
    await asyncio.sleep(wait)
    try:
        return await desk.venue.query_order(symbol, cid)
    except OrderNotFoundError:
        return None


async def _compare(desk: SpotDesk, snap: Snapshot, row: asyncpg.Record, report: OrderReport) -> int:
    # A terminal row only gets here with fills missing: that is a difference too.
    terminal = row["status"] in TERMINAL_STATUSES
    db, venue = (row["status"], row["filled_quantity"]), (report.status, report.executed_qty)
    changed = terminal or (db != venue and not activation_only(db, venue))
    if changed:
        await _report_diff(desk, snap.id, row, report)
    await apply_report(desk.core, snap, report, acked=True)
    return int(changed)


async def _report_diff(
    desk: SpotDesk, decision_id: int, row: asyncpg.Record, report: OrderReport
) -> None:
    detail: dict[str, Any] = {
        "client_order_id": row["client_order_id"],
        "db": {"status": row["status"], "filled": row["filled_quantity"]},
        "venue": {"status": report.status, "filled": report.executed_qty},
    }
    log.warning("reconcile difference %s", detail)
    text = alerts.reconciled_text(
        decision_id,
        row["leg"],
        (row["status"], row["filled_quantity"]),
        (report.status, report.executed_qty),
    )
    if report.executed_qty < row["filled_quantity"]:
        text += " — venue reports LESS than recorded; kept ours, check manually"
    async with desk.core.pool.acquire() as conn, conn.transaction():
        await store.audit(conn, "reconcile.difference", decision_id, detail)
        await store.alert(conn, "info", text, decision_id)


async def _missing(
    desk: SpotDesk,
    snap: Snapshot,
    row: asyncpg.Record,
    unknown: set[str],
    done_lists: set[str],
) -> int:
    core, d = desk.core, snap.id
    if row["status"] != "NEW_PENDING":
        unknown.add(row["client_order_id"])
        text = f"🚨 #D-{d} order {row['client_order_id']} ({row['status']}) unknown to venue"
        core.note_error(text)
        await core.alert("error", text, d)
        return 1
    await core.audit("reconcile.never_placed", d, {"client_order_id": row["client_order_id"]})
    if row["leg"] == "E":
        if row["list_client_id"]:  # an OTOCO: its pending legs go with the entry
            done_lists.add(row["list_client_id"])
        await _resend_entry(desk, snap, row)
    elif row["list_client_id"] and row["list_client_id"] not in done_lists:
        done_lists.add(row["list_client_id"])
        await place_rung(desk, snap, _rung_of(row, list(snap.orders)))
    return 1


async def _resend_entry(desk: SpotDesk, snap: Snapshot, row: asyncpg.Record) -> None:
    d = snap.id
    if not await may_resend_entry(desk.core, snap):
        await mark_order(desk.core, snap, row["client_order_id"], "REJECTED", NO_RESEND)
        return
    bracket = snap.bracket
    rules = await desk.venue.rules(snap.symbol)
    plan = plan_entry(d, bracket, rules)
    if row["list_client_id"]:
        await send_otoco(desk, snap, plan_otoco(d, bracket, rules, plan.order)[0])
        return
    await send_entry(desk.core, snap, plan.order, desk.sender)


def _rung_of(row: asyncpg.Record, orders: list[asyncpg.Record]) -> Rung:
    legs = [o for o in orders if o["list_client_id"] == row["list_client_id"]]
    tp = next(o for o in legs if o["leg"].startswith("TP"))
    sl = next(o for o in legs if o["leg"].startswith("SL"))
    parsed = parse_leg(tp["leg"])
    assert parsed is not None, tp["leg"]
    return Rung(parsed[1], tp["price"], sl["stop_price"], tp["quantity"], parsed[2])


async def account(
    desk: SpotDesk, live: list[asyncpg.Record], memory: DifferenceMemory, confirm: bool
) -> int:
    """Our-prefixed open orders the database does not know, then holdings."""
    diffs = 0
    mine = [d for d in live if d["market"] == desk.name]
    for symbol in sorted({d["symbol"] for d in mine}):
        diffs += await foreign_orders(desk, symbol, memory)
    diffs += await holdings(desk, mine, memory, confirm)
    return diffs


async def foreign_orders(desk: SpotDesk, symbol: str, memory: DifferenceMemory) -> int:
    """Our-prefixed open orders on ``symbol`` that the database does not know (alerted once)."""
    core = desk.core
    try:
        open_orders = await desk.venue.open_orders(symbol)
    except VenueError as exc:
        core.note_error(f"open orders {symbol}: {exc.describe()}")
        return 0
    ours = [o.client_order_id for o in open_orders if o.client_order_id.startswith("gl-")]
    async with core.pool.acquire() as conn:
        known = {
            r["client_order_id"]
            for r in await conn.fetch(
                "SELECT client_order_id FROM orders WHERE client_order_id = ANY($1::text[])",
                ours,
            )
        }
    unknown = [c for c in ours if c not in known]
    for cid in unknown:
        if not memory.report(f"foreign:{cid}", True, confirm=False):
            continue  # alerted already
        text = f"🚨 open order {cid} on {symbol} is not in the database"
        core.note_error(text)
        await core.alert("error", text, None)
    return len(unknown)


async def holdings(
    desk: SpotDesk, live: list[asyncpg.Record], memory: DifferenceMemory, confirm: bool
) -> int:
    """Base assets the venue holds less of than our open spot positions (someone sold
    them, or fills we never saw); alerted, never overwritten. Holding more is normal."""
    core = desk.core
    symbols = sorted({d["symbol"] for d in live})
    if not symbols:
        return 0
    try:
        held = await desk.venue.balances()
    except VenueError as exc:
        core.note_error(f"reconcile spot balances: {exc.describe()}")
        return 0
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT symbol, sum(open_quantity) AS q FROM positions"
            " WHERE market = $1 AND state = 'OPEN' GROUP BY symbol",
            desk.name,
        )
    open_qty = {r["symbol"]: r["q"] for r in rows}
    ours: dict[str, Decimal] = {}
    rules_of: dict[str, SymbolRules] = {}
    for symbol in symbols:
        rules = await desk.venue.rules(symbol)
        rules_of[rules.base_asset] = rules
        ours[rules.base_asset] = ours.get(rules.base_asset, ZERO) + open_qty.get(symbol, ZERO)
    diffs = 0
    for asset, qty in sorted(ours.items()):
        venue_qty = held.get(asset, ZERO)
        short = rules_of[asset].round_qty(qty - venue_qty) > 0
        diffs += short
        value = (qty, venue_qty) if short else None
        if memory.report(f"spot-holding:{asset}", value, confirm):
            await _holding_alert(desk, asset, qty, venue_qty)
    return diffs


async def _holding_alert(desk: SpotDesk, asset: str, ours: Decimal, held: Decimal) -> None:
    detail = {"asset": asset, "db_open": ours, "venue": held}
    log.warning("spot holding difference %s", detail)
    text = (
        f"🚨 Spot {asset}: open positions hold {ours}, the venue only {held}"
        " — not overwritten, check manually"
    )
    async with desk.core.pool.acquire() as conn, conn.transaction():
        await store.audit(conn, "reconcile.holding_difference", None, detail)
        await store.alert(conn, "error", text, None)
