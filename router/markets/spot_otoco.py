"""Spot LIMIT entries as one OTOCO list, and the entry's time-to-live.

``POST /api/v3/orderList/otoco`` carries the working LIMIT BUY ``gl-<d>-E`` and a pending OCO
for take-profit rung 1 (``gl-<d>-TP1`` LIMIT_MAKER / ``gl-<d>-SL1`` STOP_LOSS, list
``gl-<d>-L1``). The pending quantity is rung 1 of the ladder split over the *expected net*
fill (the venue takes its commission from the bought asset, and it activates the pending
legs only on a full fill, funded from the balance). The other rungs, partial fills and any
difference between the expected and the real net quantity are handled by
:func:`router.markets.spot_protect.align` as the fills arrive.

TTL: once the decision's ``expires_at`` has passed, a working entry's unfilled remainder is
cancelled (cancelling the working order cancels its list); what filled stays protected.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules
from router import store
from router.core import client_id
from router.errors import OrderNotFoundError, RejectedError, VenueError
from router.ladder import Rung, split_rungs
from router.markets.desks import SpotDesk
from router.markets.spot_protect import rung_oco, rung_rows
from router.reports import apply_report, entry_outcome_unknown, mark_order, stamp_ack
from router.sender import StillUnknownError
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, NewOrder, NewOtoco

log = logging.getLogger(__name__)
EXPECTED_COMMISSION = Decimal("0.001")  # Binance's default spot taker rate, in the bought asset


def plan_otoco(
    decision_id: int, bracket: Bracket, rules: SymbolRules, entry: NewOrder
) -> tuple[NewOtoco, Rung]:
    """The OTOCO for a rounded LIMIT entry; ``ValueError`` when rung 1 cannot be valid."""
    expected = rules.round_qty(entry.quantity * (1 - EXPECTED_COMMISSION))
    rung = split_rungs(bracket, expected, rules)[0]
    return NewOtoco(entry, rung_oco(decision_id, bracket.symbol, rung)), rung


def pending_rows(venue: str, decision_id: int, symbol: str, rung: Rung) -> list[store.OrderRow]:
    """The rows of the OTOCO's pending legs (recorded with the entry before sending)."""
    return rung_rows(venue, decision_id, symbol, rung)


def entry_row_list(decision_id: int, rung: Rung) -> str:
    """The list client id the OTOCO entry row is recorded under."""
    return client_id(decision_id, rung.leg("L"))


async def send_otoco(desk: SpotDesk, snap: Snapshot, otoco: NewOtoco) -> None:
    """Send the recorded OTOCO and apply the three reports (caller holds the decision lock)."""
    core = desk.core
    entry_cid = otoco.entry.client_order_id
    legs = (entry_cid, otoco.protection.take_profit_client_id, otoco.protection.stop_client_id)
    try:
        reports = await desk.sender.place_otoco(otoco)
    except StillUnknownError as exc:
        await entry_outcome_unknown(core, snap, exc)
        return
    except (RejectedError, VenueError) as exc:
        core.note_error(f"#D-{snap.id} OTOCO entry refused: {exc.describe()}")
        for cid in legs:
            await mark_order(core, snap, cid, "REJECTED", exc.describe())
        return
    for report in reports:
        if report.client_order_id == entry_cid:
            await stamp_ack(core, snap, entry_cid, report.order_id)
        await apply_report(core, snap, report, acked=True)


async def expire(desk: SpotDesk, snap: Snapshot, row: asyncpg.Record) -> None:
    """Cancel a working entry's unfilled remainder (its OTOCO's pending legs go with it)."""
    core = desk.core
    d, symbol, cid = snap.id, row["symbol"], row["client_order_id"]
    try:
        report = await desk.venue.cancel_order(symbol, cid)
    except OrderNotFoundError:
        report = await desk.venue.query_order(symbol, cid)  # filled meanwhile
    except VenueError as exc:
        core.note_error(f"#D-{d} entry TTL cancel: {exc.describe()}")
        return
    await apply_report(core, snap, report)
    if row["list_client_id"]:  # the OTOCO's pending legs went with it
        await refresh_pending(desk, snap, row["list_client_id"])
    if report.status in TERMINAL_STATUSES:
        text = (
            f"⌛ #D-{d} entry time-to-live over: unfilled remainder cancelled"
            f" (filled {report.executed_qty} of {report.orig_qty})"
        )
        await core.alert("info", text, d)


async def refresh_pending(desk: SpotDesk, snap: Snapshot, list_cid: str) -> None:
    """Read the venue's state of a list's not-yet-final exit legs (after the entry ended)."""
    legs = [
        o
        for o in snap.orders
        if o["list_client_id"] == list_cid
        and o["leg"] != "E"
        and o["status"] in ("NEW_PENDING", "PENDING_NEW", "NEW")
    ]
    for leg in legs:
        try:
            report = await desk.venue.query_order(snap.symbol, leg["client_order_id"])
        except OrderNotFoundError:
            continue
        await apply_report(desk.core, snap, report)
