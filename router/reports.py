"""Venue answers into the database: order states, fills, positions, the entry's stamp.

Every function here takes the decision's :class:`router.snapshot.Snapshot` (the caller holds
the decision's lock) and writes one order's news in one transaction; replaying any report
changes nothing (order progress is monotonic, fills are keyed by trade id, positions are
recomputed from all fills). The market implementation of the decision supplies its venue
(for missing trades), its symbol rules and its position arithmetic.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from decimal import Decimal

import asyncpg

from greenlight.core.clock import utc_now
from greenlight.core.lifecycle import Event
from greenlight.core.symbols import SymbolRules
from router import alerts, ledger, store
from router.core import Core
from router.errors import RejectedError, VenueError
from router.sender import OrderSender, StillUnknownError
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, NewOrder, OrderReport, TradeFill

log = logging.getLogger(__name__)
EXIT_PREFIXES = ("TP", "SL", "X", "M")
NEVER_REACHED = "never reached the venue"
NO_RESEND = f"{NEVER_REACHED}; decision expired, trading halted or routed too long ago"


def leg_kind(leg: str) -> str:
    """``TP3`` → ``TP``; ``SL2r1`` → ``SL``; ``E`` → ``E``."""
    m = re.match(r"[A-Z]+", leg)
    return m.group(0) if m else leg


@dataclass(frozen=True)
class OrderState:
    """One order's state as the venue reports it, with the fills known so far."""

    cid: str
    status: str
    venue_order_id: str | None
    filled: Decimal
    cum_quote: Decimal
    fills: tuple[TradeFill, ...]
    reject_reason: str | None = None
    acked: bool = False


async def apply_order_state(core: Core, snap: Snapshot, st: OrderState) -> None:
    """Apply one order's venue state and fills in a single transaction (idempotent)."""
    market = core.market(snap.market)
    rules = await market.rules(snap.symbol)  # cached; fetched outside the transaction
    async with core.pool.acquire() as conn, conn.transaction():
        await _apply_in_tx(conn, core, snap, rules, st)


async def _apply_in_tx(
    conn: asyncpg.Connection, core: Core, snap: Snapshot, rules: SymbolRules, st: OrderState
) -> None:
    decision_id = snap.id
    before = await store.update_order(
        conn,
        st.cid,
        st.status,
        st.venue_order_id,
        st.filled,
        st.cum_quote,
        st.reject_reason,
        st.acked,
    )
    row = await conn.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", st.cid)
    if row is None:
        log.warning("report for unknown order %s ignored", st.cid)
        return
    new_fill = False
    for fill in st.fills:
        new_fill |= await ledger.insert_fill(
            conn, core.venue_name, snap.symbol, st.cid, decision_id, row["side"], fill
        )
    if new_fill or before is not None:
        market = core.market(snap.market)
        await ledger.recompute_position(
            conn, snap.decision, lambda rows: market.figures(rows, rules, snap.side)
        )
    if before is not None:
        detail = {
            "client_order_id": st.cid,
            "from": before["status"],
            "to": st.status,
            "filled": st.filled,
        }
        await store.audit(conn, "order.update", decision_id, detail)
        await _fill_alert(conn, rules, row, before, st, decision_id)
    if st.acked and row["leg"] == "E":
        await conn.execute(
            "UPDATE decisions SET entry_ack_at = coalesce(entry_ack_at, clock_timestamp())"
            " WHERE id = $1",
            decision_id,
        )


async def _fill_alert(
    conn: asyncpg.Connection,
    rules: SymbolRules,
    row: asyncpg.Record,
    before: asyncpg.Record,
    st: OrderState,
    decision_id: int,
) -> None:
    was_done = before["status"] in TERMINAL_STATUSES
    if was_done or st.status not in TERMINAL_STATUSES or st.filled <= 0:
        return
    leg = row["leg"]
    avg = st.cum_quote / st.filled
    text = alerts.filled_text(
        rules, row["side"], st.filled, avg, decision_id, "" if leg == "E" else leg
    )
    await store.alert(conn, "fill", text, decision_id)


async def apply_report(
    core: Core,
    snap: Snapshot,
    report: OrderReport,
    acked: bool = False,
    fetch_trades: bool | None = None,
) -> None:
    """Apply a REST order report (placement, query or cancel answer).

    A query or cancel answer carries no fills: when the order has executed more than the
    report's fills show, its trades are fetched so that every fill is recorded — at once on
    markets whose order answers carry fills (``Market.fetch_trades``); elsewhere that look-up
    is left to the user stream and to reconciliation (``fetch_trades=True``), so a
    weight-throttled GET never delays the protective orders.
    """
    market = core.market(snap.market)
    fetch = fetch_trades if fetch_trades is not None else market.fetch_trades
    if fetch and report.executed_qty > sum((f.qty for f in report.fills), Decimal(0)):
        try:
            trades = await market.trades(report.symbol, report.order_id)
        except VenueError as exc:
            core.note_error(f"trades of {report.client_order_id}: {exc.describe()}")
        else:
            report = replace(report, fills=tuple(trades))
    state = OrderState(
        report.client_order_id,
        report.status,
        report.order_id,
        report.executed_qty,
        report.cum_quote,
        report.fills,
        acked=acked,
    )
    await apply_order_state(core, snap, state)


async def mark_order(core: Core, snap: Snapshot, cid: str, status: str, reason: str) -> None:
    """Record a terminal status without fills (a refusal)."""
    state = OrderState(cid, status, None, Decimal(0), Decimal(0), (), reject_reason=reason)
    await apply_order_state(core, snap, state)


async def decision_of(core: Core, cid: str, what: str) -> int | None:
    """The decision owning our order ``cid``; ``None`` for foreign or unknown orders.

    An unknown ``gl-`` order is noted as an error about the ``what`` that named it.
    """
    if not cid.startswith("gl-"):
        return None
    async with core.pool.acquire() as conn:
        decision_id: int | None = await conn.fetchval(
            "SELECT decision_id FROM orders WHERE client_order_id = $1", cid
        )
    if decision_id is None:
        core.note_error(f"{what} for unknown order {cid}")
    return decision_id


async def stamp_ack(core: Core, snap: Snapshot, cid: str, venue_order_id: str) -> None:
    """Record the venue's acknowledgement of the entry the moment it arrives (one statement)."""
    async with core.pool.acquire() as conn:
        await conn.execute(
            "WITH o AS (UPDATE orders SET acked_at = coalesce(acked_at, clock_timestamp()),"
            " venue_order_id = $3 WHERE client_order_id = $2 RETURNING decision_id)"
            " UPDATE decisions SET entry_ack_at = coalesce(entry_ack_at, clock_timestamp())"
            " WHERE id = $1 AND EXISTS (SELECT 1 FROM o)",
            snap.id,
            cid,
            venue_order_id,
        )


async def entry_outcome_unknown(core: Core, snap: Snapshot, exc: StillUnknownError) -> None:
    """Note and alert an entry whose outcome stayed unknown; reconciliation settles it."""
    text = f"⚠️ #D-{snap.id} entry outcome unknown ({exc}); reconciling"
    core.note_error(text)
    await core.alert("error", text, snap.id)


async def send_entry(core: Core, snap: Snapshot, order: NewOrder, sender: OrderSender) -> None:
    """Send the recorded entry order and apply the answer (caller holds the decision lock)."""
    try:
        report = await sender.place(order)
    except StillUnknownError as exc:
        await entry_outcome_unknown(core, snap, exc)
        return
    except (RejectedError, VenueError) as exc:
        core.note_error(f"#D-{snap.id} entry refused: {exc.describe()}")
        await mark_order(core, snap, order.client_order_id, "REJECTED", exc.describe())
        return
    await stamp_ack(core, snap, order.client_order_id, report.order_id)
    await apply_report(core, snap, report, acked=True)


async def may_resend_entry(core: Core, snap: Snapshot) -> bool:
    """Whether an entry that provably never arrived may be sent again: the decision is
    unexpired, trading is enabled and it was routed less than ``routed_timeout_s`` ago."""
    now = utc_now(core.clock)
    d = snap.decision
    routed = d["routed_at"]
    fresh = (
        d["expires_at"] > now
        and routed is not None
        and ((now - routed).total_seconds() < core.routed_timeout_s)
    )
    async with core.pool.acquire() as conn:
        enabled = await store.trading_enabled(conn)
    return bool(fresh and enabled)


def order_row(core: Core, snap: Snapshot, order: NewOrder, leg: str, market: str) -> store.OrderRow:
    """The row recording a plain order of ``snap`` before it is sent."""
    return store.OrderRow(
        snap.id,
        order.client_order_id,
        None,
        core.venue_name,
        market,
        order.symbol,
        leg,
        order.side,
        order.order_type,
        order.quantity,
        order.price,
    )


async def close(
    conn: asyncpg.Connection,
    core: Core,
    snap: Snapshot,
    rules: SymbolRules,
    fig: ledger.PositionFigures,
) -> None:
    """The position is flat: CLOSED with its realized PnL, the position row closed and the
    "closed" alert (inside the caller's transaction)."""
    row = await store.transition(
        conn, snap.id, Event.FLAT, realized_pnl=fig.realized_pnl, closed_at=utc_now(core.clock)
    )
    if row is not None:
        await ledger.close_position(conn, snap.id)
        text = alerts.closed_text(rules, fig.realized_pnl, snap.id)
        await store.alert(conn, "closed", text, snap.id)
