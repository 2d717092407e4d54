"""Reconciliation: make the DB agree with the venue — after a start or a user-stream
reconnect, and periodically (every ``router.reconcile_interval_s``) while all looks healthy.

For every ROUTED/OPEN decision each order is queried by client id. Differences are logged,
audited, alerted and counted before the venue's (monotonic) progress is applied; nothing is
silently overwritten, and an order the venue never saw is sent again only when it was
provably never placed. Around the decisions the account is checked too: our-prefixed open
orders the database does not know, spot holdings below our open positions, USD-M positions
and (after a start or reconnect only: funding moves it) the USD-M wallet. The periodic pass
only reconciles the decisions :mod:`router.reconcile_check` found differing, so a quiet
account costs one order query per working order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg

from router import (
    brackets,
    lifecycle,
    liveness,
    otoco,
    protect,
    reconcile_check,
    reconcile_usdm,
    store,
)
from router.core import Core, parse_bracket
from router.errors import OrderNotFoundError, VenueError
from router.ladder import Rung, parse_leg
from router.reconcile_check import DifferenceMemory
from router.venues.base import TERMINAL_STATUSES, OrderReport

log = logging.getLogger(__name__)
GRACE_S = 1.0  # a difference must outlive this long: events on a healthy stream are faster


class Reconciler:
    """Runs one reconciliation at a time over all live decisions.

    ``runs`` counts full runs (start, reconnect), ``periodic_runs`` the periodic passes and
    ``corrections`` every order the database had wrong and that was corrected from the venue.
    """

    def __init__(self, core: Core, grace_s: float = GRACE_S) -> None:
        self.core = core
        self.grace_s = grace_s
        self._running = asyncio.Lock()
        self.runs = 0
        self.periodic_runs = 0
        self.corrections = 0
        self.last_periodic_at: float | None = None
        self.memory = DifferenceMemory()
        self.unknown: set[str] = set()  # our client ids the venue does not know (alerted)

    async def run(self) -> int:
        """Reconcile every live decision and the account; return the number of differences."""
        async with self._running:
            self.runs += 1
            return await self._pass(None, confirm=False)

    async def periodic(self) -> int:
        """One periodic pass: find the live decisions whose orders differ from the venue,
        let ``grace_s`` pass (an event in flight on a healthy stream lands meanwhile), then
        reconcile those and check the account. Returns the number of differences."""
        suspects = await self.suspects()
        if suspects:
            await asyncio.sleep(self.grace_s)
        return await self.correct(suspects)

    async def suspects(self) -> set[int]:
        """Ids of live decisions whose orders differ from the venue right now (read-only)."""
        async with self.core.pool.acquire() as conn:
            live = await store.live_decisions(conn)
        return await reconcile_check.suspects(self.core, live, self.unknown)

    async def correct(self, suspects: set[int]) -> int:
        """Reconcile the ``suspects`` (what still differs is corrected, counted and alerted)
        and check the account; differences must be confirmed by two passes to be alerted."""
        async with self._running:
            self.periodic_runs += 1
            diffs = await self._pass(suspects, confirm=True)
            self.last_periodic_at = time.time()
        return diffs

    def view(self) -> dict[str, Any]:
        """What ``GET /v1/state`` shows about reconciliation."""
        return {
            "runs": self.runs,
            "periodic_runs": self.periodic_runs,
            "corrections": self.corrections,
            "last_periodic_at": self.last_periodic_at,
        }

    async def _pass(self, only: set[int] | None, confirm: bool) -> int:
        """Reconcile the live decisions (those in ``only`` when given), then the account."""
        async with self.core.pool.acquire() as conn:
            live = await store.live_decisions(conn)
        diffs = 0
        for decision in live:
            if only is not None and decision["id"] not in only:
                continue
            try:
                async with self.core.lock(decision["id"]):
                    if decision["market"] == "usdm":
                        found = await reconcile_usdm.decision(self.core, decision, self.unknown)
                    else:
                        found = await self._decision(decision)
                    await lifecycle.advance_locked(self.core, decision["id"])
            except VenueError as exc:
                self.core.note_error(f"reconcile #D-{decision['id']}: {exc.describe()}")
                continue
            self.corrections += found
            diffs += found
        for symbol in sorted({d["symbol"] for d in live if d["market"] != "usdm"}):
            diffs += await self._foreign_orders(symbol)
        diffs += await reconcile_check.spot_holdings(self.core, live, self.memory, confirm)
        if self.core.futures is not None:
            diffs += await self._usdm_account(live, confirm)
        return diffs

    async def _usdm_account(self, live: list[asyncpg.Record], confirm: bool) -> int:
        """Foreign algo orders, positions and the wallet of the USD-M account."""
        diffs = 0
        try:
            for symbol in sorted({d["symbol"] for d in live if d["market"] == "usdm"}):
                diffs += await reconcile_usdm.foreign_algos(self.core, symbol, self.memory)
            diffs += await reconcile_usdm.positions(self.core, self.memory, confirm)
            if not confirm:  # funding moves the wallet every 8 h: not on every periodic pass
                diffs += await reconcile_usdm.wallet(self.core)
        except VenueError as exc:
            self.core.note_error(f"reconcile USD-M account: {exc.describe()}")
        return diffs

    async def _decision(self, decision: asyncpg.Record) -> int:
        async with self.core.pool.acquire() as conn:
            orders = await store.orders_for(conn, decision["id"])
        diffs = 0
        done_lists: set[str] = set()
        for row in orders:
            if row["status"] in TERMINAL_STATUSES and await self._fills_complete(row):
                continue
            report = await self._settled_query(row)
            if report is None:
                diffs += await self._missing(decision, row, orders, done_lists)
                continue
            diffs += await self._compare(decision["id"], row, report)
        return diffs

    async def _settled_query(self, row: asyncpg.Record) -> OrderReport | None:
        """The venue's report of an order, or ``None`` once it provably never arrived.

        A ``NEW_PENDING`` row may belong to a request still in flight (a process that died
        right after sending it): only after its recvWindow has passed can "not found" be
        trusted, so a young row is queried again once that time is up.
        """
        symbol, cid = row["symbol"], row["client_order_id"]
        try:
            return await self.core.venue.query_order(symbol, cid)
        except OrderNotFoundError:
            if row["status"] != "NEW_PENDING":
                return None
        async with self.core.pool.acquire() as conn:
            age = await conn.fetchval(
                "SELECT extract(epoch FROM clock_timestamp() - created_at)::float8"
                " FROM orders WHERE client_order_id = $1",
                cid,
            )
        wait = self.core.sender.settle_s - float(age)
        if wait <= 0:
            return None
        await asyncio.sleep(wait)
        try:
            return await self.core.venue.query_order(symbol, cid)
        except OrderNotFoundError:
            return None

    async def _fills_complete(self, row: asyncpg.Record) -> bool:
        async with self.core.pool.acquire() as conn:
            recorded = await conn.fetchval(
                "SELECT coalesce(sum(quantity), 0) FROM fills WHERE client_order_id = $1",
                row["client_order_id"],
            )
        return bool(recorded >= row["filled_quantity"])

    async def _compare(self, decision_id: int, row: asyncpg.Record, report: OrderReport) -> int:
        # A terminal row only gets here with fills missing: that is a difference too.
        terminal = row["status"] in TERMINAL_STATUSES
        db, venue = (row["status"], row["filled_quantity"]), (report.status, report.executed_qty)
        changed = terminal or (db != venue and not reconcile_check.activation_only(db, venue))
        if changed:
            await self._report_diff(decision_id, row, report)
        await lifecycle.apply_report(self.core, decision_id, report, acked=True)
        return int(changed)

    async def _report_diff(
        self, decision_id: int, row: asyncpg.Record, report: OrderReport
    ) -> None:
        detail: dict[str, Any] = {
            "client_order_id": row["client_order_id"],
            "db": {"status": row["status"], "filled": row["filled_quantity"]},
            "venue": {"status": report.status, "filled": report.executed_qty},
        }
        log.warning("reconcile difference %s", detail)
        text = reconcile_usdm.diff_text(decision_id, row, report.status, report.executed_qty)
        if report.executed_qty < row["filled_quantity"]:
            text += " — venue reports LESS than recorded; kept ours, check manually"
        async with self.core.pool.acquire() as conn, conn.transaction():
            await store.audit(conn, "reconcile.difference", decision_id, detail)
            await store.alert(conn, "info", text, decision_id)

    async def _missing(
        self,
        decision: asyncpg.Record,
        row: asyncpg.Record,
        orders: list[asyncpg.Record],
        done_lists: set[str],
    ) -> int:
        d = decision["id"]
        if row["status"] != "NEW_PENDING":
            self.unknown.add(row["client_order_id"])
            text = f"🚨 #D-{d} order {row['client_order_id']} ({row['status']}) unknown to venue"
            self.core.note_error(text)
            await self.core.alert("error", text, d)
            return 1
        await self.core.audit(
            "reconcile.never_placed", d, {"client_order_id": row["client_order_id"]}
        )
        if row["leg"] == "E":
            if row["list_client_id"]:  # an OTOCO: its pending legs go with the entry
                done_lists.add(row["list_client_id"])
            await self._resend_entry(decision, row)
        elif row["list_client_id"] and row["list_client_id"] not in done_lists:
            done_lists.add(row["list_client_id"])
            await protect.place_rung(self.core, d, row["symbol"], _rung_of(row, orders))
        return 1

    async def _resend_entry(self, decision: asyncpg.Record, row: asyncpg.Record) -> None:
        d = decision["id"]
        if not await liveness.may_resend_entry(self.core, d):
            reason = liveness.NO_RESEND
            await lifecycle.mark_order(self.core, d, row["client_order_id"], "REJECTED", reason)
            return
        bracket = parse_bracket(decision["bracket"])
        rules = await self.core.rules(decision["symbol"])
        plan = brackets.plan_entry(d, bracket, rules)
        if row["list_client_id"]:
            await otoco.send_otoco(self.core, d, otoco.plan_otoco(d, bracket, rules, plan.order)[0])
            return
        await brackets.send_entry(self.core, d, plan.order)

    async def _foreign_orders(self, symbol: str) -> int:
        try:
            open_orders = await self.core.venue.open_orders(symbol)
        except VenueError as exc:
            self.core.note_error(f"open orders {symbol}: {exc.describe()}")
            return 0
        ours = [o.client_order_id for o in open_orders if o.client_order_id.startswith("gl-")]
        async with self.core.pool.acquire() as conn:
            known = {
                r["client_order_id"]
                for r in await conn.fetch(
                    "SELECT client_order_id FROM orders WHERE client_order_id = ANY($1::text[])",
                    ours,
                )
            }
        unknown = [c for c in ours if c not in known]
        for cid in unknown:
            if not self.memory.report(f"foreign:{cid}", True, confirm=False):
                continue  # alerted already
            text = f"🚨 open order {cid} on {symbol} is not in the database"
            self.core.note_error(text)
            await self.core.alert("error", text, None)
        return len(unknown)


def _rung_of(row: asyncpg.Record, orders: list[asyncpg.Record]) -> Rung:
    legs = [o for o in orders if o["list_client_id"] == row["list_client_id"]]
    tp = next(o for o in legs if o["leg"].startswith("TP"))
    sl = next(o for o in legs if o["leg"].startswith("SL"))
    parsed = parse_leg(tp["leg"])
    assert parsed is not None, tp["leg"]
    return Rung(parsed[1], tp["price"], sl["stop_price"], tp["quantity"], parsed[2])
