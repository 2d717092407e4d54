"""The guards of one engine process (:class:`GuardHub`) and their evaluation per stream
(:class:`StreamGuards`).

The hub owns what the scheduler jobs refresh — the news calendar (file and chat events) and
the funding book of each USD-M venue — and, at each live candle, reads in the candle's
transaction which guards an admin has bypassed and whether chat added news. A stream asks
its verdicts at the candle's close time, on the venue's clock; the news guard corrects that
clock by the venue's shift (see :mod:`engine.guards.news`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from engine.guards import store
from engine.guards import vol as V
from engine.guards.funding import NOT_APPLICABLE, FundingBook
from engine.guards.news import CalendarFile, NewsGuard
from engine.guards.verdict import Verdict
from greenlight.core.settings import Settings

log = logging.getLogger(__name__)

_SYNC_SQL = """
SELECT (SELECT coalesce(array_agg(name), '{}') FROM guard_toggles
        WHERE bypass_until > clock_timestamp()) AS off,
       (SELECT count(*)::text || ':' || coalesce(max(id), 0)::text FROM news_events) AS news
"""


class GuardHub:
    """News calendar, funding books and the admins' bypasses, shared by every stream."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.news = NewsGuard(settings.news)
        path = settings.news.calendar_file
        self.calendar = CalendarFile(settings.resolve_path(path), self.news) if path else None
        self.funding: dict[str, FundingBook] = {}
        # Per USD-M venue: ask the venue for a symbol's funding now (see fresh_funding).
        self.refreshers: dict[str, Callable[[str], Awaitable[object]]] = {}
        self.bypassed: frozenset[str] = frozenset()
        self._news_version = ""

    def funding_book(self, venue: str) -> FundingBook:
        """The funding book of a USD-M venue (made on first use)."""
        book = self.funding.get(venue)
        if book is None:
            book = self.funding[venue] = FundingBook(self.settings.funding)
        return book

    async def fresh_funding(self, venue: str, symbol: str) -> None:
        """Ask the venue for ``symbol``'s funding before a decision is judged: the rate is
        then the one quoted at the decision's candle (in a stepped replay the venue stands
        still meanwhile), not whatever a wall-clock poll happened to catch — so replays
        decide the same way. Without a refresher (tests, batch) the book stays as it is."""
        refresh = self.refreshers.get(venue)
        if refresh is not None:
            await refresh(symbol)

    def check_calendar(self) -> str | None:
        """Reload the calendar file if it changed (see :class:`CalendarFile`)."""
        if self.calendar is None:
            return None
        message = self.calendar.check()
        if message:
            (log.error if self.calendar.error else log.info)("%s", message)
        return message

    async def sync(self, conn: asyncpg.Connection) -> frozenset[str]:
        """Read the bypassed guards (and chat's news events when they changed); called in
        each live candle's transaction, so a toggle counts from the next candle."""
        row = await conn.fetchrow(_SYNC_SQL)
        self.bypassed = frozenset(row["off"])
        if row["news"] != self._news_version:
            self.news.set_chat_events(await store.chat_events(conn))
            self._news_version = str(row["news"])
        return self.bypassed


class StreamGuards:
    """Verdicts of one stream; each live candle's are persisted (``guard_state``)."""

    def __init__(
        self,
        hub: GuardHub,
        venue: str,
        symbol: str,
        assets: frozenset[str],
        futures: bool,
        shift_ms: int = 0,
    ) -> None:
        self.hub = hub
        self.venue = venue
        self.symbol = symbol
        self.assets = assets
        self.shift_ms = shift_ms
        self.book = hub.funding_book(venue) if futures else None
        self._saved: dict[str, tuple[str, str] | None] = {}

    def evaluate(
        self, now_ms: int, vol_code: int, atr_pct: float, bbw_pct: float, side: str | None = None
    ) -> dict[str, Verdict]:
        """Each guard's verdict at venue time ``now_ms`` (``side`` adds the funding rate
        check); guards an admin bypassed never block."""
        hub = self.hub
        verdicts = {
            "news": hub.news.verdict(now_ms, self.assets, self.shift_ms),
            "funding": NOT_APPLICABLE
            if self.book is None
            else self.book.verdict(self.symbol, now_ms, side),
            "vol": V.vol_verdict(vol_code, hub.settings.volatility, atr_pct, bbw_pct),
        }
        if hub.bypassed:
            for name in hub.bypassed:
                if name in verdicts:
                    verdicts[name] = verdicts[name].bypassed()
        return verdicts

    async def persist(
        self, conn: asyncpg.Connection, verdicts: dict[str, Verdict], at_ms: int
    ) -> None:
        """Write the verdicts as of venue time ``at_ms``, and record a funding window the
        stream entered."""
        await store.save_verdicts(conn, self.venue, self.symbol, list(verdicts.values()), at_ms)
        await self.record_window(conn, verdicts, at_ms)

    async def record_window(
        self, conn: asyncpg.Connection, verdicts: dict[str, Verdict], at_ms: int
    ) -> None:
        """Record the funding window the stream entered at venue time ``at_ms``, if it did
        (the verdicts themselves are written by :meth:`persist`, or with other streams' by
        :func:`engine.guards.store.save_verdict_rows`)."""
        funding = verdicts.get("funding")
        key = None if funding is None else (funding.state, funding.reason)
        entered = key != self._saved.get("funding")
        self._saved["funding"] = key
        if self.book is not None and entered:
            t = self.book.window_at(self.symbol, at_ms)
            if t is not None:
                rate = self.book.info[self.symbol].rates.get(t)
                detail = {"funding_time": t, "rate": None if rate is None else str(rate)}
                await store.record_window(
                    conn, "funding", self.venue, self.symbol, self.book.window(t), detail
                )


def blocking(verdicts: dict[str, Verdict]) -> Verdict | None:
    """The first blocking verdict (news, funding, vol order), if any."""
    return next((v for v in verdicts.values() if v.blocking), None)
