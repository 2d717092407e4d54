"""Kill switch: halt new entries, cancel working entries, keep stops (or flatten).

State lives in ``control.trading_enabled`` so a halt survives restarts. Trips on demand
(``POST /v1/kill``), on a burst of venue errors (thresholds from ``[guards]`` in the settings;
the constants below are their defaults), and through :meth:`KillSwitch.trip` from the guards
and from the venue watch (:mod:`router.venue_watch`: a silent REST API or user stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from decimal import Decimal
from typing import Any

import asyncpg

from greenlight.core.lifecycle import Event, State, advance_all
from router import futures_lifecycle, lifecycle, otoco, store
from router.core import Core, client_id
from router.errors import DuplicateOrderError, NoChangeNeeded, OrderNotFoundError, VenueError
from router.venues.base import TERMINAL_STATUSES, NewOrder

log = logging.getLogger(__name__)
ERROR_BURST = 5
ERROR_WINDOW_S = 60.0
_IGNORED_ERRORS = (OrderNotFoundError, DuplicateOrderError, NoChangeNeeded)


class KillSwitch:
    """Manual and automatic trading halts."""

    def __init__(self, core: Core, error_burst: int = ERROR_BURST,
                 error_window_s: float = ERROR_WINDOW_S) -> None:  # fmt: skip
        self.core = core
        self.error_burst = error_burst
        self.error_window_s = error_window_s
        self._errors: deque[float] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tripping = False

    async def kill(self, flatten: bool, by: str, reason: str = "manual") -> dict[str, Any]:
        """Halt trading; cancel pending decisions and working entries; optionally flatten."""
        async with self.core.pool.acquire() as conn, conn.transaction():
            was_enabled = await store.set_trading(conn, False, by)
            halted = await advance_all(
                conn,
                Event.CANCEL,
                store.ACTOR,
                "true",
                only_from=[State.PENDING, State.APPROVED],
                audit={"by": by, "reason": reason},
            )
            cancelled = [r["id"] for r in halted]
            await store.audit(conn, "kill", None, {"by": by, "flatten": flatten, "reason": reason,
                                                    "cancelled": cancelled})  # fmt: skip
            live = await store.live_decisions(conn)
            await store.alert(conn, "kill", _kill_text(by, reason, flatten, cancelled), None)
        for decision in live:
            try:
                async with self.core.lock(decision["id"]):
                    await self._halt_decision(decision, flatten)
                    await lifecycle.advance_locked(self.core, decision["id"])
            except VenueError as exc:
                self.core.note_error(f"kill #D-{decision['id']}: {exc.describe()}")
        return {"trading_enabled": False, "was_enabled": was_enabled, "cancelled": cancelled,
                "flatten": flatten, "live": [d["id"] for d in live]}  # fmt: skip

    async def resume(self, by: str) -> dict[str, Any]:
        """Re-enable trading."""
        async with self.core.pool.acquire() as conn, conn.transaction():
            was_enabled = await store.set_trading(conn, True, by)
            await store.audit(conn, "resume", None, {"by": by})
            await store.alert(conn, "resume", f"▶️ Trading resumed by {by}", None)
        return {"trading_enabled": True, "was_enabled": was_enabled}

    async def _halt_decision(self, decision: asyncpg.Record, flatten: bool) -> None:
        async with self.core.pool.acquire() as conn:
            orders = await store.orders_for(conn, decision["id"])
        working = [o for o in orders if o["status"] not in TERMINAL_STATUSES]
        if decision["market"] == "usdm":
            await self._halt_usdm(decision, working, flatten)
            return
        for o in working:
            if o["leg"] == "E":
                await self._cancel(decision["id"], o["symbol"], o["client_order_id"])
                if o["list_client_id"]:  # an OTOCO entry takes its pending legs with it
                    await otoco.refresh_pending(
                        self.core, decision["id"], o["symbol"], o["list_client_id"]
                    )
        if not flatten:
            return
        for list_id in sorted({o["list_client_id"] for o in working if o["list_client_id"]}):
            with contextlib.suppress(OrderNotFoundError):
                await self.core.venue.cancel_order_list(decision["symbol"], list_id)
            for o in (o for o in working if o["list_client_id"] == list_id):
                await self._refresh(decision["id"], o["symbol"], o["client_order_id"])
        await self._flatten(decision)

    async def _halt_usdm(
        self, decision: asyncpg.Record, working: list[asyncpg.Record], flatten: bool
    ) -> None:
        """Cancel a working entry; on flatten close with one reduce-only MARKET (``X``).

        The stop and take-profits stay until the position is flat; the lifecycle then
        cancels whatever is left.
        """
        d = decision["id"]
        for o in working:
            if o["leg"] == "E":
                await futures_lifecycle.cancel(self.core, d, o)
        if flatten:
            await futures_lifecycle.market_exit(self.core, d, None, "X")

    async def _cancel(self, decision_id: int, symbol: str, cid: str) -> None:
        try:
            report = await self.core.venue.cancel_order(symbol, cid)
            await lifecycle.apply_report(self.core, decision_id, report)
        except OrderNotFoundError:
            await self._refresh(decision_id, symbol, cid)

    async def _refresh(self, decision_id: int, symbol: str, cid: str) -> None:
        try:
            report = await self.core.venue.query_order(symbol, cid)
        except OrderNotFoundError:
            return
        await lifecycle.apply_report(self.core, decision_id, report)

    async def _flatten(self, decision: asyncpg.Record) -> None:
        d = decision["id"]
        rules = await self.core.rules(decision["symbol"])
        async with self.core.pool.acquire() as conn:
            open_qty = await conn.fetchval(
                "SELECT open_quantity FROM positions WHERE decision_id = $1", d
            )
        qty = rules.round_qty(open_qty or Decimal(0), market=True)
        if qty <= 0:
            return
        order = NewOrder(decision["symbol"], "SELL", "MARKET", qty, client_id(d, "X"))
        async with self.core.pool.acquire() as conn, conn.transaction():
            row = store.OrderRow(
                d,
                order.client_order_id,
                None,
                self.core.venue_name,
                self.core.market,
                order.symbol,
                "X",
                "SELL",
                "MARKET",
                qty,
            )
            if not await store.insert_order(conn, row):
                return  # already flattened once: never sell twice
            await store.audit(conn, "flatten", d, {"quantity": qty})
        try:
            report = await self.core.sender.place(order)
        except VenueError as exc:
            text = f"🚨 #D-{d} flatten SELL {qty} not confirmed: {exc.describe()}"
            self.core.note_error(text)
            await self.core.alert("error", text, d)
            return
        await lifecycle.apply_report(self.core, d, report, acked=True)

    def record_error(self, exc: VenueError) -> None:
        """Count a venue error; trip the switch on a burst. Business refusals (insufficient
        balance, filter failures: the venue answering normally) never count."""
        if isinstance(exc, _IGNORED_ERRORS) or exc.business_refusal:
            return
        now = time.monotonic()
        self._errors.append(now)
        while self._errors and now - self._errors[0] > self.error_window_s:
            self._errors.popleft()
        if len(self._errors) >= self.error_burst:
            self._errors.clear()
            window = f"{self.error_window_s:.0f}s"
            self._spawn(self.trip(f"{self.error_burst} venue errors within {window}"))

    async def trip(self, reason: str) -> None:
        """Automatic halt (no flatten) with an alert; once per episode."""
        if self._tripping:
            return
        self._tripping = True
        try:
            async with self.core.pool.acquire() as conn:
                enabled = await store.trading_enabled(conn)
            if enabled:
                log.error("kill switch tripped: %s", reason)
                await self.kill(False, "auto", reason)
        finally:
            self._tripping = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _kill_text(by: str, reason: str, flatten: bool, cancelled: list[int]) -> str:
    what = "closing positions" if flatten else "protective stops kept"
    return (
        f"⛔ Trading halted by {by} ({reason}) · {len(cancelled)} pending decision(s) cancelled"
        f" · {what}"
    )
