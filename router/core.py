"""Shared router context: database pool, clock, the markets, per-decision locks, recent
errors. One per router process.

The market of a decision is chosen here, once: :meth:`Core.market` hands back the
implementation (:class:`router.markets.base.Market`) that knows how that market enters,
protects, exits and reconciles. Nothing outside ``router/markets`` and ``router/venues``
asks which market it is on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from greenlight.core.clock import Clock, SystemClock, now_s
from greenlight.core.db_outage import DB_ERRORS, db_unavailable
from router import snapshot, store
from router.bracket_checks import BracketLimits
from router.errors import VenueError
from router.markets.base import Market
from router.snapshot import Snapshot

log = logging.getLogger(__name__)
# What applying a venue report may raise without it being a bug (see Core.note_unapplied).
APPLY_ERRORS: tuple[type[Exception], ...] = (VenueError, *DB_ERRORS)


def client_id(decision_id: int, leg: str) -> str:
    """Deterministic client order id: ``gl-<decision>-<leg>`` (``E``, ``TP1``, ``SL1``, ``X``)."""
    return f"gl-{decision_id}-{leg}"


@dataclass
class Core:
    """Everything the router's parts share; one per router process."""

    pool: asyncpg.Pool
    venue_name: str
    clock: Clock = field(default_factory=SystemClock)
    markets: dict[str, Market] = field(default_factory=dict)
    leverage_cap: int = 3
    limits: BracketLimits = field(default_factory=BracketLimits)
    routed_timeout_s: float = 60.0  # ROUTED with nothing on the venue this long → FAILED
    errors: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=50))
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _symbol_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def add_market(self, market: Market) -> None:
        """Register the implementation of one market (``market.name``)."""
        self.markets[market.name] = market

    def market(self, name: str) -> Market:
        """The implementation of market ``name``; ``RuntimeError`` when it is not traded."""
        found = self.markets.get(name)
        if found is None:
            raise RuntimeError(f"no {name} venue configured (market symbols are empty)")
        return found

    def lock(self, decision_id: int) -> asyncio.Lock:
        """The lock serialising everything that touches one decision's orders."""
        return self._locks.setdefault(decision_id, asyncio.Lock())

    def symbol_lock(self, symbol: str) -> asyncio.Lock:
        """The lock serialising the admission of brackets on one symbol (until claimed)."""
        return self._symbol_locks.setdefault(symbol, asyncio.Lock())

    async def snapshot(self, decision_id: int) -> Snapshot:
        """A fresh snapshot of a decision that exists (caller holds its lock)."""
        async with self.pool.acquire() as conn:
            snap = await snapshot.load(conn, decision_id)
        if snap is None:
            raise LookupError(f"decision #{decision_id} does not exist")
        return snap

    @asynccontextmanager
    async def locked(self, decision_id: int) -> AsyncIterator[Snapshot | None]:
        """Hold the decision's lock and yield its snapshot read under it (``None``: no such
        decision)."""
        async with self.lock(decision_id):
            async with self.pool.acquire() as conn:
                snap = await snapshot.load(conn, decision_id)
            yield snap

    def note_error(self, text: str) -> None:
        """Remember an error for ``GET /v1/state`` and the log."""
        log.error(text)
        self.errors.append((now_s(self.clock), text))

    def note_unapplied(self, what: str, exc: BaseException) -> None:
        """A venue report (``what``: its client id) that could not be applied; when the
        database was unavailable, say that reconciliation will apply it once it is back."""
        if db_unavailable(exc):
            self.note_error(
                f"{what} not applied, database unavailable ({exc}): reconciliation applies"
                " it when the database is back"
            )
        else:
            self.note_error(f"applying {what}: {exc}")

    async def alert(self, kind: str, text: str, decision_id: int | None) -> None:
        """Insert an alert and notify the bot."""
        async with self.pool.acquire() as conn:
            await store.alert(conn, kind, text, decision_id)

    async def audit(self, action: str, decision_id: int | None, detail: dict[str, Any]) -> None:
        """Append an audit row outside any other transaction."""
        async with self.pool.acquire() as conn:
            await store.audit(conn, action, decision_id, detail)
