"""The update queue behind the fake's ``getUpdates`` (spec §5.2 semantics)."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from tests.fakes.telegram_objects import ApiError

MAX_POLL_TIMEOUT = 50
CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def _kind(update: dict[str, Any]) -> str:
    return next(k for k in update if k != "update_id")


class UpdateQueue:
    """Unconfirmed updates, monotonic ids, long polling and the one-poller rule.

    ``offset`` confirms (forgets) every update below it; a negative offset keeps only the last
    ``-offset`` updates. A newer ``getUpdates`` terminates a pending one with 409, as the real
    server does when two bot instances poll at once.
    """

    def __init__(self, first_update_id: int = 700_000_000) -> None:
        self.pending: list[dict[str, Any]] = []
        self.delivered: list[int] = []
        self._next_id = first_update_id
        self._allowed: set[str] | None = None
        self._generation = 0
        self._wakeup = asyncio.Event()

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue one update of ``kind`` (``message``, ``callback_query`` …); return its id."""
        update_id = self._next_id
        self._next_id += 1
        self.pending.append({"update_id": update_id, kind: payload})
        self._notify()
        return update_id

    def clear(self) -> None:
        """Drop every pending update (``deleteWebhook(drop_pending_updates=True)``)."""
        self.pending.clear()

    async def poll(
        self, *, offset: int, limit: int, timeout: int, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """Confirm by ``offset``, then return up to ``limit`` updates, waiting ≤ ``timeout`` s."""
        limit = min(max(limit, 1), 100)
        timeout = min(max(timeout, 0), MAX_POLL_TIMEOUT)
        if allowed is not None:
            # An empty list means "all default types"; omitting it keeps the previous setting.
            self._allowed = set(allowed) or None
        self._confirm(offset)
        self._generation += 1
        generation = self._generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._generation:
                raise ApiError(409, CONFLICT_OTHER_POLL)
            if self._allowed is not None:
                self.pending = [u for u in self.pending if _kind(u) in self._allowed]
            remaining = deadline - loop.time()
            if self.pending or remaining <= 0:
                batch = self.pending[:limit]
                self.delivered.extend(u["update_id"] for u in batch)
                return batch
            wakeup = self._wakeup
            with suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self.pending = self.pending[offset:]
        elif offset > 0:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def _notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()
