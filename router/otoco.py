"""Spot LIMIT entries as one OTOCO list, and the entry's time-to-live.

``POST /api/v3/orderList/otoco`` carries the working LIMIT BUY ``gl-<d>-E`` and a pending OCO
for take-profit rung 1 (``gl-<d>-TP1`` LIMIT_MAKER / ``gl-<d>-SL1`` STOP_LOSS, list
``gl-<d>-L1``). The pending quantity is rung 1 of the ladder split over the *expected net*
fill (the venue takes its commission from the bought asset, and it activates the pending
legs only on a full fill, funded from the balance). The other rungs, partial fills and any
difference between the expected and the real net quantity are handled by
:func:`router.protect.align_locked` as the fills arrive.

TTL: once the decision's ``expires_at`` has passed, a working entry's unfilled remainder is
cancelled (cancelling the working order cancels its list); what filled stays protected.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules
from router import lifecycle, protect, store
from router.core import Core, client_id
from router.errors import OrderNotFoundError, RejectedError, VenueError
from router.ladder import Rung, split_rungs
from router.sender import StillUnknownError
from router.venues.base import TERMINAL_STATUSES, NewOrder, NewOtoco

log = logging.getLogger(__name__)
EXPECTED_COMMISSION = Decimal("0.001")  # Binance's default spot taker rate, in the bought asset


def plan_otoco(
    decision_id: int, bracket: Bracket, rules: SymbolRules, entry: NewOrder
) -> tuple[NewOtoco, Rung]:
    """The OTOCO for a rounded LIMIT entry; ``ValueError`` when rung 1 cannot be valid."""
    expected = rules.round_qty(entry.quantity * (1 - EXPECTED_COMMISSION))
    rung = split_rungs(bracket, expected, rules)[0]
    return NewOtoco(entry, protect.rung_oco(decision_id, bracket.symbol, rung)), rung


def pending_rows(core: Core, decision: asyncpg.Record, rung: Rung) -> list[store.OrderRow]:
    """The rows of the OTOCO's pending legs (recorded with the entry before sending)."""
    return protect.rung_rows(core, decision, rung)


async def send_otoco(core: Core, decision_id: int, otoco: NewOtoco) -> None:
    """Send the recorded OTOCO and apply the three reports (caller holds the decision lock)."""
    from router.brackets import (  # noqa: PLC0415 - brackets imports this module
        entry_outcome_unknown,
        stamp_ack,
    )

    entry_cid = otoco.entry.client_order_id
    legs = (entry_cid, otoco.protection.take_profit_client_id, otoco.protection.stop_client_id)
    try:
        reports = await core.sender.place_otoco(otoco)
    except StillUnknownError as exc:
        await entry_outcome_unknown(core, decision_id, exc)
        return
    except (RejectedError, VenueError) as exc:
        core.note_error(f"#D-{decision_id} OTOCO entry refused: {exc.describe()}")
        for cid in legs:
            await lifecycle.mark_order(core, decision_id, cid, "REJECTED", exc.describe())
        return
    for report in reports:
        if report.client_order_id == entry_cid:
            await stamp_ack(core, decision_id, entry_cid, report.order_id)
        await lifecycle.apply_report(core, decision_id, report, acked=True)


async def expire_entries(core: Core) -> int:
    """Cancel the unfilled remainder of spot entries whose decision has expired."""
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT o.* FROM orders o JOIN decisions d ON d.id = o.decision_id"
            " WHERE d.state IN ('ROUTED', 'OPEN') AND d.market = 'spot' AND o.leg = 'E'"
            " AND d.expires_at <= now() AND o.status IN ('NEW', 'PARTIALLY_FILLED')"
        )
    for row in rows:
        async with core.lock(row["decision_id"]):
            await _expire(core, row)
    return len(rows)


async def _expire(core: Core, row: asyncpg.Record) -> None:
    d, symbol, cid = row["decision_id"], row["symbol"], row["client_order_id"]
    try:
        report = await core.venue.cancel_order(symbol, cid)
    except OrderNotFoundError:
        report = await core.venue.query_order(symbol, cid)  # filled meanwhile
    except VenueError as exc:
        core.note_error(f"#D-{d} entry TTL cancel: {exc.describe()}")
        return
    await lifecycle.apply_report(core, d, report)
    if row["list_client_id"]:  # the OTOCO's pending legs went with it
        await refresh_pending(core, d, symbol, row["list_client_id"])
    if report.status in TERMINAL_STATUSES:
        text = (f"⌛ #D-{d} entry time-to-live over: unfilled remainder cancelled"
                f" (filled {report.executed_qty} of {report.orig_qty})")  # fmt: skip
        await core.alert("info", text, d)
    await lifecycle.advance_locked(core, d)


async def refresh_entries(core: Core) -> int:
    """Query every working entry; apply and alert what the user stream did not bring."""
    async with core.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT o.* FROM orders o JOIN decisions d ON d.id = o.decision_id"
            " WHERE d.state IN ('ROUTED', 'OPEN') AND o.leg = 'E'"
            " AND o.status IN ('NEW', 'PARTIALLY_FILLED')"
        )
    changed = 0
    for row in rows:
        market = row["market"]
        try:
            report = await core.venue_for(market).query_order(row["symbol"], row["client_order_id"])
        except VenueError as exc:
            core.note_error(f"entry check {row['client_order_id']}: {exc.describe()}")
            continue
        d = row["decision_id"]
        async with core.lock(d):
            async with core.pool.acquire() as conn:
                now = await conn.fetchrow(
                    "SELECT status, filled_quantity FROM orders WHERE id = $1", row["id"]
                )
            if (report.status, report.executed_qty) == (now["status"], now["filled_quantity"]):
                continue  # nothing missed (or the stream caught up meanwhile)
            changed += 1
            await lifecycle.apply_report(core, d, report, market=market, fetch_trades=True)
            was = f"{now['status']} {now['filled_quantity']}"
            text = (f"🔄 Reconciled #D-{d} entry: {was} → {report.status}"
                    f" {report.executed_qty} (ahead of the user stream)")  # fmt: skip
            await core.alert("info", text, d)
            await lifecycle.advance_locked(core, d)
    return changed


async def refresh_pending(core: Core, decision_id: int, symbol: str, list_cid: str) -> None:
    """Read the venue's state of a list's not-yet-final exit legs (after the entry ended)."""
    async with core.pool.acquire() as conn:
        legs = await conn.fetch(
            "SELECT client_order_id FROM orders WHERE list_client_id = $1 AND leg <> 'E'"
            " AND status = ANY($2::text[])",
            list_cid,
            ["NEW_PENDING", "PENDING_NEW", "NEW"],
        )
    for leg in legs:
        try:
            report = await core.venue.query_order(symbol, leg["client_order_id"])
        except OrderNotFoundError:
            continue
        await lifecycle.apply_report(core, decision_id, report)


def entry_row_list(decision_id: int, rung: Rung) -> str:
    """The list client id the OTOCO entry row is recorded under."""
    return client_id(decision_id, rung.leg("L"))
