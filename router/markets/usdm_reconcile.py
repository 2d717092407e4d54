"""USD-M reconciliation: orders, algo orders, positions and the wallet, DB against venue.

Order progress reported by the venue is applied (it is monotonic); positions and the wallet
are compared and every difference is logged, audited and alerted — the database is never
silently overwritten with the venue's figures. A :class:`DifferenceMemory` keeps a standing
difference from being alerted again on every (periodic) pass.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import asyncpg

from router import alerts, store
from router.differences import DifferenceMemory
from router.errors import OrderNotFoundError, VenueError
from router.markets.desks import UsdmDesk
from router.markets.usdm_orders import apply_algo, is_algo, place_algo_leg, plan_futures_entry
from router.reports import NO_RESEND, apply_report, mark_order, may_resend_entry, send_entry
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, AlgoReport, NewAlgoOrder, OrderReport
from router.venues.binance_http import fmt_decimal

log = logging.getLogger(__name__)
BALANCE_TOLERANCE = Decimal("0.01")  # USDT; rounding of fees on the venue side
WALLET_KEY = "usdm_wallet_reconciled"


async def query(desk: UsdmDesk, row: asyncpg.Record) -> AlgoReport | OrderReport | None:
    """The venue's report of one order row (algo or plain); ``None`` if the venue has none."""
    venue = desk.venue
    try:
        if is_algo(row):
            return await venue.query_algo(row["symbol"], row["client_order_id"])
        return await venue.query_order(row["symbol"], row["client_order_id"])
    except OrderNotFoundError:
        return None


def venue_view(report: AlgoReport | OrderReport) -> tuple[str, Decimal]:
    """Status and executed quantity as the order row would record them."""
    if isinstance(report, AlgoReport):
        if report.status == "FINISHED":
            return ("FILLED" if report.filled_qty > 0 else "EXPIRED"), report.filled_qty
        status = "TRIGGERED" if report.status == "TRIGGERING" else report.status
        return status, report.filled_qty
    return report.status, report.executed_qty


async def _settled(desk: UsdmDesk, row: asyncpg.Record) -> AlgoReport | OrderReport | None:
    """Query a ``NEW_PENDING`` row again once its request can no longer be in flight."""
    async with desk.core.pool.acquire() as conn:
        age = await conn.fetchval(
            "SELECT extract(epoch FROM clock_timestamp() - created_at)::float8"
            " FROM orders WHERE client_order_id = $1",
            row["client_order_id"],
        )
    wait = desk.sender.settle_s - float(age)
    if wait <= 0:
        return None
    await asyncio.sleep(wait)
    return await query(desk, row)


async def decision(desk: UsdmDesk, snap: Snapshot, unknown: set[str]) -> int:
    """Reconcile one live USD-M decision's orders; return the number of differences.
    Client ids the venue does not know are added to ``unknown``."""
    diffs = 0
    for row in snap.orders:
        if row["status"] in TERMINAL_STATUSES and snap.fills_complete(row):
            continue
        report = await query(desk, row)
        if report is None and row["status"] == "NEW_PENDING":
            report = await _settled(desk, row)
        if report is None:
            diffs += await _missing(desk, snap, row, unknown)
            continue
        status, filled = venue_view(report)
        # A terminal row only gets here with fills missing: that is a difference too.
        terminal = row["status"] in TERMINAL_STATUSES
        if terminal or (row["status"], row["filled_quantity"]) != (status, filled):
            diffs += 1
            await _report(desk, snap.id, row, status, filled)
        if isinstance(report, AlgoReport):
            await apply_algo(desk, snap, report, acked=True)
        else:
            await apply_report(desk.core, snap, report, acked=True, fetch_trades=True)
    return diffs


async def _report(
    desk: UsdmDesk, decision_id: int, row: asyncpg.Record, status: str, filled: Decimal
) -> None:
    detail = {
        "client_order_id": row["client_order_id"],
        "db": {"status": row["status"], "filled": row["filled_quantity"]},
        "venue": {"status": status, "filled": filled},
    }
    log.warning("reconcile difference %s", detail)
    text = alerts.reconciled_text(
        decision_id, row["leg"], (row["status"], row["filled_quantity"]), (status, filled)
    )
    async with desk.core.pool.acquire() as conn, conn.transaction():
        await store.audit(conn, "reconcile.difference", decision_id, detail)
        await store.alert(conn, "info", text, decision_id)


async def _missing(desk: UsdmDesk, snap: Snapshot, row: asyncpg.Record, unknown: set[str]) -> int:
    core, decision_id, cid = desk.core, snap.id, row["client_order_id"]
    if row["status"] != "NEW_PENDING":
        unknown.add(cid)
        text = f"🚨 #D-{decision_id} order {cid} ({row['status']}) unknown to venue"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return 1
    await core.audit("reconcile.never_placed", decision_id, {"client_order_id": cid})
    if row["leg"] == "E":
        if not await may_resend_entry(core, snap):
            await mark_order(core, snap, cid, "REJECTED", NO_RESEND)
            return 1
        plan = plan_futures_entry(
            decision_id, snap.bracket, await desk.venue.rules(snap.symbol), core.leverage_cap
        )
        await send_entry(core, snap, plan.order, desk.sender)
    elif is_algo(row):
        qty = row["quantity"] or None
        algo = NewAlgoOrder(
            row["symbol"],
            row["side"],
            row["order_type"],
            row["stop_price"],
            cid,
            quantity=qty,
            close_position=qty is None,
            reduce_only=qty is not None,
        )
        await place_algo_leg(desk, snap, algo)
    return 1


async def positions(desk: UsdmDesk, memory: DifferenceMemory, confirm: bool = False) -> int:
    """Compare signed open quantities per symbol (DB positions vs ``positionRisk``); each
    distinct difference is alerted once (``confirm``: once seen on two passes in a row)."""
    core = desk.core
    venue = {p.symbol: p.amount for p in await desk.venue.positions()}
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT symbol, sum(CASE WHEN side = 'BUY' THEN open_quantity ELSE -open_quantity"
            " END) AS amount FROM positions WHERE market = $1 AND state = 'OPEN'"
            " GROUP BY symbol",
            desk.name,
        )
    ours = {r["symbol"]: r["amount"] for r in rows}
    diffs = 0
    for symbol in sorted(set(venue) | set(ours)):
        db_amt, venue_amt = ours.get(symbol, Decimal(0)), venue.get(symbol, Decimal(0))
        differs = db_amt != venue_amt
        diffs += differs
        key, value = f"usdm-position:{symbol}", (db_amt, venue_amt) if differs else None
        if memory.report(key, value, confirm):
            detail = {"symbol": symbol, "db": db_amt, "venue": venue_amt}
            log.warning("futures position difference %s", detail)
            text = (
                f"🚨 USD-M position {symbol}: database {fmt_decimal(db_amt)},"
                f" venue {fmt_decimal(venue_amt)}"
                " — not overwritten, check manually"
            )
            async with core.pool.acquire() as conn, conn.transaction():
                await store.audit(conn, "reconcile.position_difference", None, detail)
                await store.alert(conn, "error", text, None)
    return diffs


async def _books(conn: asyncpg.Connection, market: str) -> tuple[object, ...] | None:
    """A stamp of our USD-M orders and fills, ``None`` while an order's outcome or fills are
    still on their way (the venue may already have charged what our books do not show)."""
    row = await conn.fetchrow(
        "SELECT bool_or(d.state IN ('ROUTED', 'OPEN') AND (o.status = 'NEW_PENDING'"
        " OR o.filled_quantity > coalesce(f.q, 0))) AS busy, max(o.updated_at) AS at,"
        " coalesce(sum(f.n), 0) AS fills FROM orders o JOIN decisions d ON d.id = o.decision_id"
        " LEFT JOIN (SELECT client_order_id, sum(quantity) AS q, count(*) AS n FROM fills"
        " GROUP BY client_order_id) f USING (client_order_id) WHERE o.market = $1",
        market,
    )
    return None if row["busy"] else (row["at"], row["fills"])


async def wallet(desk: UsdmDesk, asset: str = "USDT") -> int:
    """Compare the venue wallet with the last reconciled one plus our realized PnL since.

    A difference (funding, transfers, fills we never saw) is logged, audited and alerted;
    the new snapshot is then recorded with the venue's value, so each change alerts once.
    The comparison is skipped unless our books are settled and unchanged around the venue
    read (an order in flight moves the wallet before our fills show it).
    """
    core = desk.core
    async with core.pool.acquire() as conn:
        before = await _books(conn, desk.name)
    if before is None:
        return 0
    balance = (await desk.venue.balances()).get(asset)
    venue_wallet = balance.wallet if balance else Decimal(0)
    async with core.pool.acquire() as conn, conn.transaction():
        if await _books(conn, desk.name) != before:
            return 0
        pnl = await conn.fetchval(
            "SELECT coalesce(sum(realized_pnl), 0) FROM positions WHERE market = $1", desk.name
        )
        snap = await conn.fetchval("SELECT value FROM control WHERE key = $1", WALLET_KEY)
        diff = 0
        if isinstance(snap, dict):
            expected = Decimal(snap["wallet"]) + pnl - Decimal(snap["pnl"])
            if abs(expected - venue_wallet) > BALANCE_TOLERANCE:
                diff = 1
                detail = {"asset": asset, "expected": expected, "venue": venue_wallet}
                log.warning("futures wallet difference %s", detail)
                await store.audit(conn, "reconcile.wallet_difference", None, detail)
                text = (
                    f"🔄 USD-M wallet {venue_wallet:.2f} {asset}, expected {expected:.2f}"
                    " from our fills (funding, transfers or unseen fills)"
                )
                await store.alert(conn, "info", text, None)
        value = {"wallet": str(venue_wallet), "pnl": str(pnl)}
        await conn.execute(
            "INSERT INTO control (key, value, updated_by) VALUES ($1, $2::jsonb, 'router')"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
            " updated_at = clock_timestamp(), updated_by = 'router'",
            WALLET_KEY,
            value,
        )
    return diff


async def foreign_algos(desk: UsdmDesk, symbol: str, memory: DifferenceMemory) -> int:
    """Our-prefixed open orders / algo orders on the venue that the DB does not know (each
    alerted once)."""
    core = desk.core
    try:
        venue = desk.venue
        cids = [a.client_algo_id for a in await venue.open_algos(symbol)]
        cids += [o.client_order_id for o in await venue.open_orders(symbol)]
    except VenueError as exc:
        core.note_error(f"open futures orders {symbol}: {exc.describe()}")
        return 0
    ours = [c for c in cids if c.startswith("gl-")]
    async with core.pool.acquire() as conn:
        known = {
            r[0]
            for r in await conn.fetch(
                "SELECT client_order_id FROM orders WHERE client_order_id = ANY($1::text[])", ours
            )
        }
    unknown = [c for c in ours if c not in known]
    for cid in unknown:
        if not memory.report(f"foreign:{cid}", True, confirm=False):
            continue
        text = f"🚨 open USD-M order {cid} on {symbol} is not in the database"
        core.note_error(text)
        await core.alert("error", text, None)
    return len(unknown)


async def account(
    desk: UsdmDesk, live: list[asyncpg.Record], confirm: bool, memory: DifferenceMemory
) -> int:
    """Foreign algo orders, positions and (after a start or reconnect only: funding moves
    it every 8 h) the wallet of the USD-M account."""
    diffs = 0
    try:
        for symbol in sorted({d["symbol"] for d in live if d["market"] == desk.name}):
            diffs += await foreign_algos(desk, symbol, memory)
        diffs += await positions(desk, memory, confirm)
        if not confirm:
            diffs += await wallet(desk)
    except VenueError as exc:
        desk.core.note_error(f"reconcile USD-M account: {exc.describe()}")
    return diffs
