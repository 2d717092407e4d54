"""The spot market: long brackets, MARKET entries protected by one OCO per take-profit rung
after the fill, LIMIT entries sent as one OTOCO whose unfilled remainder ends at the
decision's time-to-live.

Steps live beside it: :mod:`router.markets.spot_entry` (entry and order-count budget),
:mod:`router.markets.spot_protect` (protection that follows the open position),
:mod:`router.markets.spot_otoco` (LIMIT entries) and :mod:`router.markets.spot_reconcile`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Protocol

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules
from router import ledger, reports, store
from router.bracket_checks import Carry
from router.core import Core, client_id
from router.differences import DifferenceMemory
from router.equity import QUOTE, AccountSnapshot, Holding, publish
from router.errors import OrderNotFoundError, VenueError
from router.ledger import PositionFigures
from router.markets import spot_entry, spot_otoco, spot_protect, spot_reconcile
from router.markets.base import EntryPlan, VenueReads
from router.markets.desks import SPOT, SPOT_ACCOUNT, SpotDesk
from router.reports import EXIT_PREFIXES, apply_report, leg_kind
from router.sender import OrderSender
from router.snapshot import Snapshot
from router.venues.base import TERMINAL_STATUSES, NewOrder, SpotVenue

log = logging.getLogger(__name__)
ACCOUNT = SPOT_ACCOUNT


class SpotAccount(Protocol):
    """What a spot venue answers about the account: balances and last prices."""

    async def balances(self) -> dict[str, Decimal]:
        """Free + locked per asset, from one account answer."""
        ...

    async def last_price(self, symbol: str) -> Decimal:
        """The last traded price of ``symbol``."""
        ...

    async def server_time(self) -> int:
        """The venue's clock (ms)."""
        ...


async def spot_snapshot(venue: SpotAccount) -> AccountSnapshot:
    """Balances from one ``/api/v3/account`` answer, each non-quote asset at its last price
    (an asset without a ``<ASSET>USDT`` market is left out, with a warning)."""
    at = await venue.server_time()
    balances = await venue.balances()
    cash = balances.get(QUOTE, Decimal(0))
    holdings = []
    for asset, qty in sorted(balances.items()):
        if asset == QUOTE or qty == 0:
            continue
        symbol = f"{asset}{QUOTE}"
        try:
            price = await venue.last_price(symbol)
        except VenueError as exc:
            log.warning("equity: %s %s not valued (no price for %s: %s)", qty, asset, symbol, exc)
            continue
        holdings.append(Holding(symbol, qty, price))
    equity = cash + sum((h.quantity * h.price for h in holdings), Decimal(0))
    return AccountSnapshot(ACCOUNT, cash, tuple(holdings), equity, at)


async def publish_equity(pool: asyncpg.Pool, venue: SpotAccount) -> Decimal:
    """Snapshot the spot account, store it; return its equity."""
    return await publish(pool, lambda: spot_snapshot(venue))


class SpotMarket(VenueReads):
    """:class:`router.markets.base.Market` for spot."""

    name = SPOT
    equity_key = ACCOUNT.equity_key
    snapshot_key = ACCOUNT.snapshot_key
    fetch_trades = True  # spot order answers carry fills: complete them at once
    entries_expire = True
    carry = Carry("spot", margined=False)

    venue: SpotVenue

    def __init__(self, core: Core, venue: SpotVenue, sender: OrderSender) -> None:
        self.desk = SpotDesk(core, venue, sender)
        self.venue = venue
        self.sender = sender

    def figures(
        self, fills: Sequence[asyncpg.Record], rules: SymbolRules, side: str
    ) -> PositionFigures:
        """Long spot: BUY in, SELL out, commissions netted in base or quote asset."""
        return ledger.figures(list(fills), rules.base_asset, rules.quote_asset)

    async def account_equity(self) -> Decimal | None:
        """The quote asset's balance."""
        return (await self.venue.balances()).get(QUOTE)

    async def account_snapshot(self) -> AccountSnapshot:
        """Every asset at its last price."""
        return await spot_snapshot(self.venue)

    async def admit_ladder(self, decision_id: int, bracket: Bracket) -> Bracket:
        """The ladder merged to fit the symbol's order-count filters."""
        return await spot_entry.admit_ladder(self.desk, decision_id, bracket)

    async def prepare_entry(self, decision_id: int, bracket: Bracket) -> EntryPlan:
        """The rounded entry; a LIMIT entry goes out as an OTOCO with rung 1 pending."""
        rules = await self.venue.rules(bracket.symbol)
        plan = spot_entry.plan_entry(decision_id, bracket, rules)
        core = self.desk.core
        entry = store.OrderRow(
            decision_id,
            plan.order.client_order_id,
            None,
            core.venue_name,
            SPOT,
            plan.order.symbol,
            "E",
            plan.order.side,
            plan.order.order_type,
            plan.order.quantity,
            plan.order.price,
        )
        if bracket.entry_type != "LIMIT":
            return replace(plan, rows=(entry,))
        otoco, rung = spot_otoco.plan_otoco(decision_id, bracket, rules, plan.order)
        entry = replace(entry, list_client_id=spot_otoco.entry_row_list(decision_id, rung))
        pending = spot_otoco.pending_rows(core.venue_name, decision_id, bracket.symbol, rung)
        return replace(plan, rows=(entry, *pending), otoco=otoco)

    async def send_entry(self, snap: Snapshot, plan: EntryPlan) -> None:
        """Send the entry (or its OTOCO) and apply the answer."""
        if plan.otoco is not None:
            await spot_otoco.send_otoco(self.desk, snap, plan.otoco)
        else:
            await reports.send_entry(self.desk.core, snap, plan.order, self.sender)

    async def protect(self, snap: Snapshot) -> None:
        """One OCO per rung, re-sized to the open position."""
        await spot_protect.align(self.desk, snap)

    async def close_when_flat(self, snap: Snapshot) -> None:
        """Once every exit ended: CLOSED with the PnL, or an alert for what is still held."""
        exits = [o for o in snap.orders if leg_kind(o["leg"]) in EXIT_PREFIXES]
        if not exits or any(o["status"] not in TERMINAL_STATUSES for o in exits):
            return
        core = self.desk.core
        rules = await self.venue.rules(snap.symbol)
        async with core.pool.acquire() as conn, conn.transaction():
            fig = await ledger.recompute_position(
                conn, snap.decision, lambda rows: self.figures(rows, rules, snap.side)
            )
            if rules.round_qty(fig.open_quantity) > 0:
                text = (
                    f"🚨 #D-{snap.id}: {fig.open_quantity} {rules.base_asset} still held"
                    " with no protective order working"
                )
                await store.alert(conn, "error", text, snap.id)
                core.note_error(text)
                return
            await reports.close(conn, core, snap, rules, fig)

    async def halt(self, snap: Snapshot, flatten: bool) -> None:
        """Cancel a working entry (an OTOCO's pending legs go with it); on flatten cancel
        every protective list and sell what is open at market (``X``)."""
        working = snap.working
        for o in working:
            if o["leg"] == "E":
                await self._cancel(snap, o["client_order_id"])
                if o["list_client_id"]:  # an OTOCO entry takes its pending legs with it
                    await spot_otoco.refresh_pending(self.desk, snap, o["list_client_id"])
        if not flatten:
            return
        for list_id in sorted({o["list_client_id"] for o in working if o["list_client_id"]}):
            with contextlib.suppress(OrderNotFoundError):
                await self.venue.cancel_order_list(snap.symbol, list_id)
            for o in (o for o in working if o["list_client_id"] == list_id):
                await self._refresh(snap, o["client_order_id"])
        await self._flatten(await self.desk.core.snapshot(snap.id))

    async def _cancel(self, snap: Snapshot, cid: str) -> None:
        try:
            report = await self.venue.cancel_order(snap.symbol, cid)
            await apply_report(self.desk.core, snap, report)
        except OrderNotFoundError:
            await self._refresh(snap, cid)

    async def _refresh(self, snap: Snapshot, cid: str) -> None:
        try:
            report = await self.venue.query_order(snap.symbol, cid)
        except OrderNotFoundError:
            return
        await apply_report(self.desk.core, snap, report)

    async def _flatten(self, snap: Snapshot) -> None:
        core, d = self.desk.core, snap.id
        rules = await self.venue.rules(snap.symbol)
        open_qty = self.figures(snap.fills, rules, snap.side).open_quantity if snap.fills else None
        qty = rules.round_qty(open_qty or Decimal(0), market=True)
        if qty <= 0:
            return
        order = NewOrder(snap.symbol, "SELL", "MARKET", qty, client_id(d, "X"))
        row = store.OrderRow(
            d,
            order.client_order_id,
            None,
            core.venue_name,
            SPOT,
            order.symbol,
            "X",
            "SELL",
            "MARKET",
            qty,
        )
        async with core.pool.acquire() as conn, conn.transaction():
            if not await store.insert_order(conn, row):
                return  # already flattened once: never sell twice
            await store.audit(conn, "flatten", d, {"quantity": qty})
        try:
            report = await self.sender.place(order)
        except VenueError as exc:
            text = f"🚨 #D-{d} flatten SELL {qty} not confirmed: {exc.describe()}"
            core.note_error(text)
            await core.alert("error", text, d)
            return
        await apply_report(core, snap, report, acked=True)

    async def expire_entry(self, snap: Snapshot, entry: asyncpg.Record) -> None:
        """Cancel the working entry's unfilled remainder (alerted)."""
        await spot_otoco.expire(self.desk, snap, entry)

    async def reconcile(self, snap: Snapshot, unknown: set[str]) -> int:
        """Each order by client id; never-placed ones re-sent when provably absent."""
        return await spot_reconcile.decision(self.desk, snap, unknown)

    async def reconcile_account(
        self, live: list[asyncpg.Record], memory: DifferenceMemory, confirm: bool
    ) -> int:
        """Foreign open orders on our symbols, then holdings against open positions."""
        return await spot_reconcile.account(self.desk, live, memory, confirm)

    async def venue_view(self, row: asyncpg.Record) -> tuple[str, Decimal] | None:
        """Status and executed quantity of an order on the venue."""
        try:
            report = await self.venue.query_order(row["symbol"], row["client_order_id"])
        except OrderNotFoundError:
            return None
        return report.status, report.executed_qty
