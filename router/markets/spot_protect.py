"""Spot protection that always covers exactly the open position, growing with the entry.

Scheme (one OCO list per take-profit rung, see :mod:`router.ladder` for the leg names):

- After every change of a decision's orders, :func:`align` compares the quantity the
  working stops cover with the open position (net of base-asset commission, rounded down to
  the lot step). When they differ it re-splits the open quantity over the rungs that have not
  executed yet, keeps every rung list whose quantity already matches, cancels the others
  **first** (spot sells are funded by the balance, so the stops never exceed the position)
  and then places the missing rungs as a new generation (``TP1r1`` …).
- A partial fill of the entry is therefore protected at once and the protection grows with
  each further fill; what stays unprotected is below one lot step — or, while the position
  is still below the symbol's minimum notional, nothing can rest at all (alerted once the
  entry is over).
- A LIMIT entry is sent as an OTOCO (:mod:`router.markets.spot_otoco`) whose pending OCO is
  rung 1 sized for the expected net fill: when the entry fills at once the venue activates
  rung 1 itself and this module adds the other rungs. While the entry is working, the
  pending legs cover nothing and are never touched (cancelling them would cancel the entry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from router import alerts, ledger, store
from router.core import client_id
from router.errors import (
    OrderCountError,
    OrderNotFoundError,
    PriceCrossedError,
    RejectedError,
    VenueError,
)
from router.ladder import ProtectionError, Rung, parse_leg, split_rungs
from router.markets.desks import SPOT, SpotDesk
from router.reports import apply_report, mark_order
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, NewOco, NewOrder

log = logging.getLogger(__name__)
MAX_PASSES = 3


@dataclass(frozen=True)
class RungList:
    """One live protective OCO list as recorded in the database."""

    list_cid: str
    index: int
    covers: Decimal  # what its stop still sells
    rows: tuple[asyncpg.Record, ...]


@dataclass(frozen=True)
class Book:
    """A decision's protective lists, split into those we may change and those we may not."""

    lists: list[RungList]
    frozen: list[RungList]
    gens: dict[int, int]  # highest generation used per rung index
    executed: set[int]  # rung indices that already sold something
    in_flight: bool  # an exit order's outcome is not known yet


def read_book(orders: list[asyncpg.Record]) -> Book:
    """Group the decision's ladder legs into live lists."""
    entry = next((o for o in orders if o["leg"] == "E"), None)
    entry_filled = entry is not None and entry["status"] == "FILLED"
    grouped: dict[str, list[asyncpg.Record]] = {}
    gens: dict[int, int] = {}
    executed: set[int] = set()
    in_flight = False
    for o in orders:
        parsed = parse_leg(o["leg"])
        if parsed is None:
            continue
        _, index, gen = parsed
        gens[index] = max(gens.get(index, 0), gen)
        executed |= {index} if o["filled_quantity"] > 0 else set()
        in_flight |= o["status"] == "NEW_PENDING"
        if o["status"] not in TERMINAL_STATUSES and o["list_client_id"]:
            grouped.setdefault(o["list_client_id"], []).append(o)
    lists: list[RungList] = []
    frozen: list[RungList] = []
    for lid, rows in grouped.items():
        index = parse_leg(rows[0]["leg"])[1]  # type: ignore[index]
        stop = next((r for r in rows if r["leg"].startswith("SL")), None)
        covers = stop["quantity"] - stop["filled_quantity"] if stop is not None else Decimal(0)
        item = RungList(lid, index, covers, tuple(rows))
        pending = any(r["status"] == "PENDING_NEW" for r in rows)
        # A pending OTOCO leg activates with the entry's full fill; before that it covers
        # nothing and cancelling it would cancel the working entry.
        (frozen if pending and not entry_filled else lists).append(item)
    return Book(lists, frozen, gens, executed, in_flight)


async def align(desk: SpotDesk, snap: Snapshot, depth: int = 0) -> None:
    """Make the working stops cover exactly the open position (caller holds the lock)."""
    core = desk.core
    rules = await desk.venue.rules(snap.symbol)
    book = read_book(list(snap.orders))
    if book.in_flight or depth >= MAX_PASSES:
        return  # an unknown outcome is settled by reconciliation first
    fig = ledger.figures(list(snap.fills), rules.base_asset, rules.quote_asset)
    open_qty = rules.round_qty(max(fig.open_quantity, Decimal(0)))
    covered = sum((rl.covers for rl in book.lists), Decimal(0))
    if covered == open_qty and all(rl.covers > 0 for rl in book.lists):
        return
    try:
        ideal = split_rungs(snap.bracket, open_qty, rules, book.executed) if open_qty > 0 else []
    except ProtectionError as exc:
        await _unprotectable(desk, snap, exc)
        return
    keep, stale, wanted = plan_changes(book, ideal)
    if stale:
        if await _cancel_lists(desk, snap, stale):  # fills may have moved the target
            await align(desk, await core.snapshot(snap.id), depth + 1)
        return
    fresh = [
        Rung(r.index, r.take_profit, r.stop, r.quantity, book.gens.get(r.index, -1) + 1)
        for r in wanted
    ]
    if fresh:
        await _place(desk, snap, fresh)
        tps = sorted({r.take_profit for r in ideal})
        await _announce(desk, snap.id, alerts.protected_text(rules, ideal[0].stop, tps, snap.id))


def plan_changes(
    book: Book, ideal: list[Rung]
) -> tuple[list[RungList], list[RungList], list[Rung]]:
    """Lists to keep, lists to cancel and rungs to place so that ``ideal`` is what rests."""
    by_index: dict[int, list[RungList]] = {}
    for rl in book.lists:
        by_index.setdefault(rl.index, []).append(rl)
    keep: list[RungList] = []
    stale: list[RungList] = []
    wanted: list[Rung] = []
    for rung in ideal:
        have = by_index.pop(rung.index, [])
        if len(have) == 1 and have[0].covers == rung.quantity:
            keep.append(have[0])
        else:
            stale += have
            wanted.append(rung)
    for rest in by_index.values():
        stale += rest
    return keep, stale, wanted


async def _unprotectable(desk: SpotDesk, snap: Snapshot, exc: ProtectionError) -> None:
    entry = snap.entry
    decision_id = snap.id
    if entry is None or entry["status"] not in TERMINAL_STATUSES:
        log.info("#D-%s: %s (waiting for more fills)", decision_id, exc)
        return
    text = f"🚨 #D-{decision_id} UNPROTECTED: {exc}"
    async with desk.core.pool.acquire() as conn:
        seen = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE decision_id = $1 AND text = $2)",
            decision_id,
            text,
        )
    if not seen:
        desk.core.note_error(text)
        await desk.core.alert("error", text, decision_id)


async def _cancel_lists(desk: SpotDesk, snap: Snapshot, stale: list[RungList]) -> bool:
    """Cancel lists and apply their legs' final states; ``False`` if one could not be."""
    core, symbol, decision_id = desk.core, snap.symbol, snap.id
    for rl in stale:
        try:
            await desk.venue.cancel_order_list(symbol, rl.list_cid)
        except OrderNotFoundError:
            pass  # already done on the venue: its legs' states say how
        except VenueError as exc:
            text = f"🚨 #D-{decision_id} could not re-size protection {rl.list_cid}: "
            core.note_error(text + exc.describe())
            await core.alert("error", text + exc.describe(), decision_id)
            return False
        for row in rl.rows:
            try:
                report = await desk.venue.query_order(symbol, row["client_order_id"])
            except OrderNotFoundError:
                continue
            await apply_report(core, snap, report)
    await core.audit("protect.resized", decision_id, {"cancelled": [r.list_cid for r in stale]})
    return True


async def _announce(desk: SpotDesk, decision_id: int, text: str) -> None:
    """The "protected" alert, once per decision (later re-sizes are audited, not alerted)."""
    async with desk.core.pool.acquire() as conn:
        seen = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE decision_id = $1 AND text LIKE $2)",
            decision_id,
            "🛡️ Protected%",
        )
    if not seen:
        await desk.core.alert("info", text, decision_id)


async def _place(desk: SpotDesk, snap: Snapshot, rungs: list[Rung]) -> None:
    d = snap.id
    async with desk.core.pool.acquire() as conn, conn.transaction():
        for rung in rungs:
            for row in rung_rows(desk.core.venue_name, d, snap.symbol, rung):
                await store.insert_order(conn, row)
        await store.audit(conn, "protect.planned", d, {"rungs": [vars(r) for r in rungs]})
    for rung in rungs:
        await place_rung(desk, snap, rung)


def rung_rows(venue: str, decision_id: int, symbol: str, rung: Rung) -> list[store.OrderRow]:
    """The two order rows (take-profit and stop) of one rung's OCO."""
    d = decision_id
    common: dict[str, Any] = {
        "decision_id": d,
        "list_client_id": client_id(d, rung.leg("L")),
        "venue": venue,
        "market": SPOT,
        "symbol": symbol,
        "side": "SELL",
        "quantity": rung.quantity,
    }
    return [
        store.OrderRow(
            client_order_id=client_id(d, rung.leg("TP")),
            leg=rung.leg("TP"),
            order_type="LIMIT_MAKER",
            price=rung.take_profit,
            **common,
        ),
        store.OrderRow(
            client_order_id=client_id(d, rung.leg("SL")),
            leg=rung.leg("SL"),
            order_type="STOP_LOSS",
            stop_price=rung.stop,
            **common,
        ),
    ]


def rung_oco(decision_id: int, symbol: str, rung: Rung) -> NewOco:
    """The OCO request of one rung."""
    return NewOco(
        symbol=symbol,
        side="SELL",
        quantity=rung.quantity,
        take_profit_price=rung.take_profit,
        stop_price=rung.stop,
        list_client_id=client_id(decision_id, rung.leg("L")),
        take_profit_client_id=client_id(decision_id, rung.leg("TP")),
        stop_client_id=client_id(decision_id, rung.leg("SL")),
    )


async def place_rung(desk: SpotDesk, snap: Snapshot, rung: Rung) -> None:
    """Send one rung's OCO (rows already recorded) and apply the answer."""
    core, decision_id = desk.core, snap.id
    oco = rung_oco(decision_id, snap.symbol, rung)
    name = rung.leg("L")
    try:
        reports = await desk.sender.place_oco(oco)
    except RejectedError as exc:
        for cid in (oco.take_profit_client_id, oco.stop_client_id):
            await mark_order(core, snap, cid, "REJECTED", exc.describe())
        text = f"🚨 #D-{decision_id} protective OCO {name} rejected: {exc.describe()}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        # The market already passed a price of the list, or too many orders rest on the
        # symbol (placed after the pre-entry plan, e.g. by hand): this quantity cannot rest
        # protected, so it is not kept.
        if isinstance(exc, PriceCrossedError | OrderCountError):
            await exit_rung_at_market(desk, snap, rung)
        return
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} protective OCO {name} not confirmed ({exc.describe()})"
        core.note_error(text)
        await core.alert("error", text + "; reconciliation will retry", decision_id)
        return
    for report in reports:
        await apply_report(core, snap, report, acked=True)


async def exit_rung_at_market(desk: SpotDesk, snap: Snapshot, rung: Rung) -> None:
    """Sell a rung at market (``gl-<d>-M<i>``) once, when its OCO could not rest."""
    core, decision_id, symbol = desk.core, snap.id, snap.symbol
    rules = await desk.venue.rules(symbol)
    qty = rules.round_qty(rung.quantity, market=True)
    leg = rung.leg("M")
    order = NewOrder(symbol, "SELL", "MARKET", qty, client_id(decision_id, leg))
    row = store.OrderRow(
        decision_id,
        order.client_order_id,
        None,
        core.venue_name,
        SPOT,
        symbol,
        leg,
        "SELL",
        "MARKET",
        qty,
    )
    async with core.pool.acquire() as conn, conn.transaction():
        if not await store.insert_order(conn, row):
            return
        await store.audit(conn, "exit.market", decision_id, {"rung": rung.index, "qty": qty})
    try:
        report = await desk.sender.place(order)
    except VenueError as exc:
        text = f"🚨 #D-{decision_id} market exit of rung {rung.index} failed: {exc.describe()}"
        core.note_error(text)
        await core.alert("error", text, decision_id)
        return
    await apply_report(core, snap, report, acked=True)
