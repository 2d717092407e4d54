"""The USD-M futures market: long and short brackets with leverage, a MARKET entry after the
symbol's leverage and margin type are set, protection on the algo endpoints (one
``STOP_MARKET closePosition`` plus a reduce-only ``TAKE_PROFIT_MARKET`` ladder that follows
the open position), and nothing left resting once the position is flat.

Steps live beside it: :mod:`router.markets.usdm_orders` (entry, algo legs, market exits),
:mod:`router.markets.usdm_protect` and :mod:`router.markets.usdm_reconcile`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.symbols import SymbolRules
from router import ledger, reports, store
from router.bracket_checks import Carry
from router.core import Core
from router.differences import DifferenceMemory
from router.equity import QUOTE, AccountSnapshot, Holding, publish
from router.ledger import PositionFigures
from router.markets import usdm_orders, usdm_protect, usdm_reconcile
from router.markets.base import EntryPlan, VenueReads
from router.markets.desks import USDM, USDM_ACCOUNT, UsdmDesk
from router.sender import FuturesSender
from router.snapshot import Snapshot
from router.venues.base import (
    TERMINAL_STATUSES,
    AlgoReport,
    FuturesVenue,
)

log = logging.getLogger(__name__)
ACCOUNT = USDM_ACCOUNT


async def usdm_snapshot(venue: FuturesVenue) -> AccountSnapshot:
    """Wallet and positions from one ``/fapi/v2/account`` answer."""
    at = await venue.server_time()
    acct = await venue.account()
    holdings = tuple(
        Holding(p.symbol, p.amount, entry_price=p.entry_price, unrealized=p.unrealized_pnl)
        for p in acct.positions
    )
    equity = acct.wallet + acct.unrealized_pnl
    return AccountSnapshot(ACCOUNT, acct.wallet, holdings, equity, at)


async def publish_usdm_equity(pool: asyncpg.Pool, venue: FuturesVenue) -> Decimal:
    """Snapshot the USD-M account, store it; return its equity (the margin balance)."""
    return await publish(pool, lambda: usdm_snapshot(venue))


class UsdmMarket(VenueReads):
    """:class:`router.markets.base.Market` for USD-M futures."""

    name = USDM
    equity_key = ACCOUNT.equity_key
    snapshot_key = ACCOUNT.snapshot_key
    # USD-M order answers carry no fills: the user stream and reconciliation bring them, so
    # a weight-throttled trades look-up never delays the protective orders.
    fetch_trades = False
    entries_expire = False  # MARKET entries: nothing rests to expire
    carry = Carry("USD-M", margined=True)

    venue: FuturesVenue

    def __init__(
        self, core: Core, venue: FuturesVenue, sender: FuturesSender, margin_type: str
    ) -> None:
        self.desk = UsdmDesk(core, venue, sender, margin_type)
        self.venue = venue
        self.sender = sender

    def figures(
        self, fills: Sequence[asyncpg.Record], rules: SymbolRules, side: str
    ) -> PositionFigures:
        """Fills on the decision's side open, the other side closes; PnL less every fee."""
        return ledger.futures_figures(list(fills), long=side == "BUY")

    async def account_equity(self) -> Decimal | None:
        """Wallet plus unrealized PnL of the quote asset."""
        balance = (await self.venue.balances()).get(QUOTE)
        return balance.wallet + balance.unrealized_pnl if balance is not None else None

    async def account_snapshot(self) -> AccountSnapshot:
        """Wallet and positions at one moment."""
        return await usdm_snapshot(self.venue)

    async def admit_ladder(self, decision_id: int, bracket: Bracket) -> Bracket:
        """As approved: the protection is algo orders, with no per-symbol count filter."""
        return bracket

    async def prepare_entry(self, decision_id: int, bracket: Bracket) -> EntryPlan:
        """Check the bracket, set leverage and margin type; the MARKET entry's row."""
        plan = await usdm_orders.prepare_entry(self.desk, decision_id, bracket)
        order, core = plan.order, self.desk.core
        row = store.OrderRow(
            decision_id,
            order.client_order_id,
            None,
            core.venue_name,
            USDM,
            order.symbol,
            "E",
            order.side,
            order.order_type,
            order.quantity,
            order.price,
        )
        return replace(plan, rows=(row,))

    async def send_entry(self, snap: Snapshot, plan: EntryPlan) -> None:
        """Send the MARKET entry and apply the answer."""
        await reports.send_entry(self.desk.core, snap, plan.order, self.sender)

    async def protect(self, snap: Snapshot) -> None:
        """The stop once, the take-profit ladder equal to the open position."""
        await usdm_protect.align(self.desk, snap)

    async def close_when_flat(self, snap: Snapshot) -> None:
        """Flat (judged on complete fills only): cancel what still rests, then CLOSED; open
        with nothing working: alerted."""
        core, d = self.desk.core, snap.id
        exits = [o for o in snap.orders if o["leg"] != "E"]
        if not exits:
            return
        if snap.fills_pending:
            return  # flatness is only judged on complete fills (stream or reconciliation)
        rules = await self.venue.rules(snap.symbol)

        def figures(rows: list[asyncpg.Record]) -> PositionFigures:
            return self.figures(rows, rules, snap.side)

        async with core.pool.acquire() as conn, conn.transaction():
            fig = await ledger.recompute_position(conn, snap.decision, figures)
        working = [o for o in exits if o["status"] not in TERMINAL_STATUSES]
        if rules.round_qty(abs(fig.open_quantity), market=True) > 0:
            if not working:
                text = (
                    f"🚨 #D-{d}: {fig.open_quantity} {rules.base_asset} open, nothing protecting it"
                )
                core.note_error(text)
                await core.alert("error", text, d)
            return
        for row in working:  # flat: nothing may stay resting
            await usdm_orders.cancel(self.desk, snap, row)
        after = await core.snapshot(d)
        if after.working:
            return
        async with core.pool.acquire() as conn, conn.transaction():
            fig = await ledger.recompute_position(conn, after.decision, figures)
            await reports.close(conn, core, after, rules, fig)

    async def halt(self, snap: Snapshot, flatten: bool) -> None:
        """Cancel a working entry; on flatten close with one reduce-only MARKET (``X``).

        The stop and take-profits stay until the position is flat; the lifecycle then
        cancels whatever is left.
        """
        for o in snap.working:
            if o["leg"] == "E":
                await usdm_orders.cancel(self.desk, snap, o)
        if flatten:
            await usdm_orders.market_exit(self.desk, snap, None, "X")

    async def expire_entry(self, snap: Snapshot, entry: asyncpg.Record) -> None:
        """Cancel a working entry (USD-M entries are MARKET orders: only a lost one rests)."""
        await usdm_orders.cancel(self.desk, snap, entry)

    async def reconcile(self, snap: Snapshot, unknown: set[str]) -> int:
        """Orders and algo orders by client id; never-placed ones re-sent when absent."""
        return await usdm_reconcile.decision(self.desk, snap, unknown)

    async def reconcile_account(
        self, live: list[asyncpg.Record], memory: DifferenceMemory, confirm: bool
    ) -> int:
        """Foreign algo orders, positions and (not on periodic passes) the wallet."""
        return await usdm_reconcile.account(self.desk, live, confirm, memory)

    async def venue_view(self, row: asyncpg.Record) -> tuple[str, Decimal] | None:
        """Status and executed quantity as the order row would record them."""
        report = await usdm_reconcile.query(self.desk, row)
        return None if report is None else usdm_reconcile.venue_view(report)

    async def apply_algo(self, snap: Snapshot, report: AlgoReport) -> None:
        """Apply an ``ALGO_UPDATE`` (the algo order's state and its triggered order's fills)."""
        await usdm_orders.apply_algo(self.desk, snap, report)
