"""Shared router context: database pool, venue, sender, per-decision locks, recent errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from greenlight.core.contracts import Bracket
from greenlight.core.db_outage import DB_ERRORS, db_unavailable
from greenlight.core.symbols import SymbolRules
from router import store
from router.bracket_checks import BracketLimits
from router.errors import VenueError
from router.sender import FuturesSender, OrderSender
from router.venues.base import FuturesVenue, OrderVenue, SpotVenue

log = logging.getLogger(__name__)
# What applying a venue report may raise without it being a bug (see Core.note_unapplied).
APPLY_ERRORS: tuple[type[Exception], ...] = (VenueError, *DB_ERRORS)


def client_id(decision_id: int, leg: str) -> str:
    """Deterministic client order id: ``gl-<decision>-<leg>`` (``E``, ``TP1``, ``SL1``, ``X``)."""
    return f"gl-{decision_id}-{leg}"


def parse_bracket(raw: Any) -> Bracket:
    """The decision's bracket JSON as a typed :class:`Bracket` (``ValueError`` if invalid)."""
    return Bracket.model_validate(raw)


@dataclass
class Core:
    """Everything the router's parts share; one per router process."""

    pool: asyncpg.Pool
    venue: SpotVenue
    sender: OrderSender
    venue_name: str
    market: str = "spot"
    futures: FuturesVenue | None = None
    fsender: FuturesSender | None = None
    leverage_cap: int = 3
    margin_type: str = "ISOLATED"
    limits: BracketLimits = field(default_factory=BracketLimits)
    routed_timeout_s: float = 60.0  # ROUTED with nothing on the venue this long → FAILED
    errors: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=50))
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _symbol_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, decision_id: int) -> asyncio.Lock:
        """The lock serialising everything that touches one decision's orders."""
        return self._locks.setdefault(decision_id, asyncio.Lock())

    def symbol_lock(self, symbol: str) -> asyncio.Lock:
        """The lock serialising the admission of brackets on one symbol (until claimed)."""
        return self._symbol_locks.setdefault(symbol, asyncio.Lock())

    def note_error(self, text: str) -> None:
        """Remember an error for ``GET /v1/state`` and the log."""
        log.error(text)
        self.errors.append((time.time(), text))

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

    async def rules(self, symbol: str) -> SymbolRules:
        """The symbol's spot trading rules (cached by the venue adapter)."""
        return await self.venue.rules(symbol)

    async def rules_for(self, market: str, symbol: str) -> SymbolRules:
        """The symbol's trading rules on ``market`` (``spot`` or ``usdm``)."""
        if market == "usdm":
            return await self.usdm().rules(symbol)
        return await self.venue.rules(symbol)

    def usdm(self) -> FuturesVenue:
        """The USD-M venue; ``RuntimeError`` when the router runs without one."""
        if self.futures is None:
            raise RuntimeError("no USD-M venue configured (market.futures_symbols is empty)")
        return self.futures

    def usdm_sender(self) -> FuturesSender:
        """The USD-M order sender."""
        if self.fsender is None:
            raise RuntimeError("no USD-M venue configured (market.futures_symbols is empty)")
        return self.fsender

    def venue_for(self, market: str) -> OrderVenue:
        """The venue that holds orders of ``market``."""
        return self.usdm() if market == "usdm" else self.venue

    def sender_for(self, market: str) -> OrderSender:
        """The sender for orders of ``market``."""
        return self.usdm_sender() if market == "usdm" else self.sender

    async def alert(self, kind: str, text: str, decision_id: int | None) -> None:
        """Insert an alert and notify the bot."""
        async with self.pool.acquire() as conn:
            await store.alert(conn, kind, text, decision_id)

    async def audit(self, action: str, decision_id: int | None, detail: dict[str, Any]) -> None:
        """Append an audit row outside any other transaction."""
        async with self.pool.acquire() as conn:
            await store.audit(conn, action, decision_id, detail)
