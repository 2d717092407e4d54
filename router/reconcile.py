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
from typing import Any

from greenlight.core.clock import now_s
from router import lifecycle, reconcile_check, store
from router.core import Core
from router.differences import DifferenceMemory
from router.errors import VenueError

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
            self.last_periodic_at = now_s(self.core.clock)
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
        """Reconcile the live decisions (those in ``only`` when given), then each market's
        account."""
        async with self.core.pool.acquire() as conn:
            live = await store.live_decisions(conn)
        diffs = 0
        for decision in live:
            if only is not None and decision["id"] not in only:
                continue
            try:
                async with self.core.locked(decision["id"]) as snap:
                    if snap is None:
                        continue
                    found = await self.core.market(snap.market).reconcile(snap, self.unknown)
                    await lifecycle.advance_locked(self.core, snap.id)
            except VenueError as exc:
                self.core.note_error(f"reconcile #D-{decision['id']}: {exc.describe()}")
                continue
            self.corrections += found
            diffs += found
        for market in self.core.markets.values():
            diffs += await market.reconcile_account(live, self.memory, confirm)
        return diffs
