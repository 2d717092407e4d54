"""The guards' background work in the engine, on an apscheduler ``AsyncIOScheduler``:

* ``news-calendar``: reload the calendar file when it changed (``[news] reload_interval_s``);
  a refused file is alerted with its ``file:line: reason`` and the previous calendar stays;
* ``funding``: poll ``premiumIndex`` of every USD-M symbol (``[funding]
  refresh_interval_s``) into the venue's funding book;
* ``guard-bypass``: turn back on the guards whose bypass ran out, with a message.

These run on the wall clock, outside the decision path: the pipeline only reads what they
left (see :mod:`engine.guards.hub`). Also here: how far a venue's candles are moved from the
real calendar (the simulator's clock shift; 0 for Binance).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.guards import toggles
from engine.guards.funding import parse_premium_index
from engine.guards.hub import GuardHub
from greenlight.core.store import alert

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
BYPASS_CHECK_S = 10.0


class ClockShiftError(RuntimeError):
    """The venue's clock shift could not be learned (the news guard would be misplaced)."""


async def venue_clock_shift(
    http: aiohttp.ClientSession, venue: str, rest_base: str, futures: bool
) -> int:
    """Milliseconds the venue's candles are moved from the real calendar: the simulator's
    ``clock_shift_ms`` (``GET /sim/admin/status``; the USD-M block has its own; the paper
    venue reports its market-data source's), 0 for Binance. Raises :class:`ClockShiftError`
    when the simulator does not say (a news guard on a wrong clock would block the wrong
    candles)."""
    if venue not in ("sim", "paper"):
        return 0
    url = f"{rest_base.rstrip('/')}/sim/admin/status"
    try:
        async with http.get(url) as resp:
            status = await resp.json()
            if resp.status != 200:
                raise ClockShiftError(f"GET {url}: HTTP {resp.status}")
    except (aiohttp.ClientError, ValueError) as exc:
        raise ClockShiftError(f"GET {url}: {exc}") from exc
    block = status.get("futures") if futures else status
    try:
        shift = int((block or {})["clock_shift_ms"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ClockShiftError(f"GET {url}: no clock_shift_ms ({exc!r})") from exc
    if shift % DAY_MS:
        raise ClockShiftError(f"clock_shift_ms {shift} is not a whole number of days")
    return shift


@dataclass(frozen=True)
class FundingSource:
    """Where one USD-M venue's funding comes from."""

    venue: str  # e.g. "sim-usdm"
    rest: str
    symbols: tuple[str, ...]


async def refresh_funding(
    http: aiohttp.ClientSession,
    hub: GuardHub,
    source: FundingSource,
    symbols: tuple[str, ...] | None = None,
) -> int:
    """Poll ``GET /fapi/v1/premiumIndex`` for each symbol (all of the source's by default);
    return how many answered."""
    book = hub.funding_book(source.venue)
    done = 0
    for symbol in source.symbols if symbols is None else symbols:
        url = f"{source.rest.rstrip('/')}/fapi/v1/premiumIndex"
        try:
            async with http.get(url, params={"symbol": symbol}) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}: {str(body)[:120]}")
            sym, nxt, rate = parse_premium_index(body)
        except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
            book.error = f"premiumIndex {symbol}: {exc}"
            log.warning("funding guard: %s", book.error)
            continue
        book.update(sym, nxt, rate)
        book.error = None
        done += 1
    return done


def register_refresher(http: aiohttp.ClientSession, hub: GuardHub, source: FundingSource) -> None:
    """Let the pipeline ask ``source`` for one symbol's funding before a decision (see
    :meth:`GuardHub.fresh_funding`)."""

    async def refresh(symbol: str) -> object:
        return await refresh_funding(http, hub, source, (symbol,))

    hub.refreshers[source.venue] = refresh


class GuardJobs:
    """The scheduler and its three jobs."""

    def __init__(
        self,
        hub: GuardHub,
        pool: asyncpg.Pool,
        http: aiohttp.ClientSession,
        funding: list[FundingSource],
    ) -> None:
        self.hub = hub
        self.pool = pool
        self.http = http
        self.funding = funding
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    async def calendar(self) -> None:
        """Reload the calendar file if it changed; alert a refusal."""
        message = self.hub.check_calendar()
        if message and self.hub.calendar is not None and self.hub.calendar.error:
            async with self.pool.acquire() as conn:
                await alert(conn, "error", f"⚠️ {message}")

    async def refresh(self) -> None:
        """Poll every USD-M venue's funding."""
        for source in self.funding:
            await refresh_funding(self.http, self.hub, source)

    async def bypasses(self) -> None:
        """Turn back on guards whose bypass ran out (announced in every chat)."""
        async with self.pool.acquire() as conn:
            back = await toggles.expire(conn)
        if back:
            log.info("guards back on after their bypass: %s", ", ".join(back))

    def start(self) -> None:
        """Schedule the jobs (on the running event loop)."""
        s = self.hub.settings
        opts = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        self.scheduler.add_job(
            self.calendar, "interval", seconds=s.news.reload_interval_s, id="news-calendar", **opts
        )
        if self.funding:
            every = s.funding.refresh_interval_s
            self.scheduler.add_job(self.refresh, "interval", seconds=every, id="funding", **opts)
        self.scheduler.add_job(
            self.bypasses, "interval", seconds=BYPASS_CHECK_S, id="guard-bypass", **opts
        )
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler (jobs in progress are not waited for)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
