"""The ``pause_user_stream`` fault: user-data messages held (or dropped) for a while.

Spot and futures user-data publishers send through one :class:`UserGate`. While paused,
each message is kept with its connection and released in the original order when the pause
ends (timer, or ``clear``); with ``drop`` it is discarded instead. REST is unaffected.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sim.streams.conn import Conn


class UserGate:
    """Pass-through for user-data messages, with an optional timed pause."""

    def __init__(self) -> None:
        self.until: float | None = None
        self.drop = False
        self.held: list[tuple[Conn, str]] = []
        self.dropped = 0
        self.sent = 0  # messages delivered (spot and futures): a client that handled as
        # many has caught up with the venue
        self._timer: asyncio.TimerHandle | None = None

    @property
    def paused(self) -> bool:
        """Whether messages are currently held or dropped."""
        if self.until is not None and time.monotonic() >= self.until:
            self.release()
        return self.until is not None

    def pause(self, seconds: float, drop: bool) -> None:
        """Hold (or drop) messages for ``seconds``; a new pause replaces the current one."""
        self.release()
        self.until = time.monotonic() + seconds
        self.drop = drop
        self._timer = asyncio.get_running_loop().call_later(seconds, self.release)

    def send(self, conn: Conn, text: str) -> None:
        """Deliver ``text`` to ``conn`` now, or hold/drop it while paused."""
        if not self.paused:
            self._deliver(conn, text)
        elif self.drop:
            self.dropped += 1
        else:
            self.held.append((conn, text))

    def _deliver(self, conn: Conn, text: str) -> None:
        self.sent += 1
        conn.user_sent += 1
        conn.send(text)

    def release(self) -> int:
        """End the pause: deliver held messages in order; returns how many were held."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.until = None
        held, self.held = self.held, []
        for conn, text in held:
            if not conn.ws.closed:
                self._deliver(conn, text)
        return len(held)

    def describe(self) -> dict[str, Any] | None:
        """The active pause as listed by ``GET /sim/admin/faults`` (None when not paused)."""
        if not self.paused or self.until is None:
            return None
        left = round(max(0.0, self.until - time.monotonic()), 3)
        return {
            "kind": "pause_user_stream",
            "seconds_left": left,
            "drop": self.drop,
            "held": len(self.held),
            "dropped": self.dropped,
        }
