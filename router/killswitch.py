"""Kill switch: halt new entries, cancel working entries, keep stops (or flatten: each
market closes what is open its own way, ``Market.halt``).

State lives in ``control.trading_enabled`` so a halt survives restarts. Trips on demand
(``POST /v1/kill``), on a burst of venue errors (thresholds from ``[guards]`` in the settings;
the constants below are their defaults), and through :meth:`KillSwitch.trip` from the guards
and from the venue watch (:mod:`router.venue_watch`: a silent REST API or user stream).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from greenlight.core.lifecycle import Event, State, advance_all
from router import lifecycle, store
from router.core import Core
from router.errors import EXPECTED_ANSWERS, VenueError

log = logging.getLogger(__name__)
ERROR_BURST = 5
ERROR_WINDOW_S = 60.0


class KillSwitch:
    """Manual and automatic trading halts."""

    def __init__(
        self, core: Core, error_burst: int = ERROR_BURST, error_window_s: float = ERROR_WINDOW_S
    ) -> None:
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
            await store.audit(
                conn,
                "kill",
                None,
                {"by": by, "flatten": flatten, "reason": reason, "cancelled": cancelled},
            )
            live = await store.live_decisions(conn)
            await store.alert(conn, "kill", _kill_text(by, reason, flatten, cancelled), None)
        for decision in live:
            try:
                async with self.core.locked(decision["id"]) as snap:
                    if snap is None:
                        continue
                    await self.core.market(snap.market).halt(snap, flatten)
                    await lifecycle.advance_locked(self.core, snap.id)
            except VenueError as exc:
                self.core.note_error(f"kill #D-{decision['id']}: {exc.describe()}")
        return {
            "trading_enabled": False,
            "was_enabled": was_enabled,
            "cancelled": cancelled,
            "flatten": flatten,
            "live": [d["id"] for d in live],
        }

    async def resume(self, by: str) -> dict[str, Any]:
        """Re-enable trading."""
        async with self.core.pool.acquire() as conn, conn.transaction():
            was_enabled = await store.set_trading(conn, True, by)
            await store.audit(conn, "resume", None, {"by": by})
            await store.alert(conn, "resume", f"▶️ Trading resumed by {by}", None)
        return {"trading_enabled": True, "was_enabled": was_enabled}

    def record_error(self, exc: VenueError) -> None:
        """Count a venue error; trip the switch on a burst. Business refusals (insufficient
        balance, filter failures: the venue answering normally) never count."""
        if isinstance(exc, EXPECTED_ANSWERS) or exc.business_refusal:
            return
        now = self.core.clock.monotonic()
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
