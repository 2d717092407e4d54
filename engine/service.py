"""The engine process: ingest → pipeline per symbol (parent and sub-timeframe streams), with
bounded queues between them; streams closing together commit in one transaction."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import asyncpg

from engine.agents.registry import AgentError, load_agents
from engine.candle_batch import CommitGroup
from engine.events import Candle
from engine.features import FeatureParams
from engine.guards.hub import GuardHub
from engine.guards.jobs import (
    ClockShiftError,
    FundingSource,
    GuardJobs,
    refresh_funding,
    register_refresher,
    venue_clock_shift,
)
from engine.guards.store import save_clock_shift
from engine.ingest.rest import INVALID_INTERVAL, MarketDataError, MarketRest, VenueBusy
from engine.ingest.stream import KlineIngestor
from engine.pipeline import StreamProcessor
from engine.sub_pipeline import SubStreamProcessor
from engine.symbol_feed import SymbolFeed
from greenlight.core.contracts import Market
from greenlight.core.db import connect_pool, database_url, migrate
from greenlight.core.db_outage import Backoff, retry_while_unavailable
from greenlight.core.metrics import Reading, watch
from greenlight.core.ops_http import OpsServer
from greenlight.core.readiness import mark_ready
from greenlight.core.runtime import run_until_signalled
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from greenlight.core.startup import retry_with_backoff
from greenlight.core.symbols import SymbolRules, SymbolRulesError
from greenlight.core.venue_urls import venue_endpoints

log = logging.getLogger(__name__)
SUB_WARMUP_MAX = 1000  # sub candles fetched for a cold start (one REST page)


@dataclass(frozen=True)
class MarketFeed:
    """One market of the venue the engine follows: where its data comes from."""

    market: Market
    venue: str  # stored with every row, e.g. "sim" (spot) or "sim-usdm"
    rest: str
    prefix: str
    ws: str
    symbols: tuple[str, ...]


def market_feeds(settings: Settings) -> list[MarketFeed]:
    """Spot, plus USD-M when ``market.futures_symbols`` is set."""
    ep = venue_endpoints(settings)
    name = settings.venue.name
    feeds = [
        MarketFeed(Market.SPOT, name, ep.rest, "/api/v3", ep.market_ws, settings.market.symbols)
    ]
    if settings.market.futures_symbols:
        feeds.append(
            MarketFeed(
                Market.USDM,
                f"{name}-usdm",
                ep.futures_rest,
                "/fapi/v1",
                ep.futures_market_ws,
                settings.market.futures_symbols,
            )
        )
    return feeds


class Engine:
    """Runs one ingestor per market and one consumer per symbol (its parent stream and, with
    ``market.sub_timeframe``, its sub-timeframe stream) until cancelled."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        sub_wait_s: float = 2.0,
        settle_heap: bool = False,
    ) -> None:
        self.settings = settings
        self.settle_heap = settle_heap  # the engine process: see settle_heap()
        self.pool = pool
        self.sub_wait_s = sub_wait_s
        self.processors: dict[tuple[str, str], StreamProcessor] = {}
        self.subs: dict[tuple[str, str], SubStreamProcessor] = {}
        self.feeds: dict[tuple[str, str], SymbolFeed] = {}
        self.ingestors: list[KlineIngestor] = []
        self.ready = asyncio.Event()
        names = frozenset(FeatureParams.from_settings(settings.strategy).names())
        self.agents = load_agents(settings, names)  # shared: quarantine is process-wide
        self.guards = GuardHub(settings)
        self.funding: list[FundingSource] = []
        # Streams closing on the same instant share one transaction (group commit).
        self.group = CommitGroup(pool)

    async def run(self) -> None:
        """Warm up every stream, then follow the markets until cancelled; the guards'
        scheduler jobs (calendar reload, funding poll, bypass expiry) run alongside."""
        watch(self, _engine_readings)  # queues and ingestors in the scrape
        self.guards.check_calendar()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for feed in market_feeds(self.settings):
                await retry_with_backoff(
                    f"market data of {feed.venue}",
                    functools.partial(self._prepare, http, feed),
                    (VenueBusy,),
                    "the venue is busy or failing (5xx/429/418); the engine keeps asking",
                    first_delay_s=0.5,
                    max_delay_s=5.0,
                )
            if self.settle_heap:
                settle_heap()
            mark_ready()
            jobs = GuardJobs(self.guards, self.pool, http, self.funding)
            jobs.start()
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self.group.run(), name="commit-group")
                    for key, sf in self.feeds.items():
                        tg.create_task(sf.run(), name=f"stream-{key[0]}-{key[1]}")
                    for ing in self.ingestors:
                        tg.create_task(ing.run(), name="ingest")
                    self.ready.set()
            finally:
                jobs.stop()

    async def _prepare(self, http: aiohttp.ClientSession, feed: MarketFeed) -> None:
        tf = self.settings.market.timeframe
        rest = MarketRest(http, feed.rest, feed.venue, feed.prefix)
        info = await retry_with_backoff(
            f"venue {feed.venue} at {feed.rest}",
            lambda: rest.exchange_info(list(feed.symbols)),
            (aiohttp.ClientError, OSError, TimeoutError),
            "Is it running (`greenlight sim` for the simulator)? Check venue.* settings.",
        )
        futures = feed.market is Market.USDM
        shift = await venue_clock_shift(http, self.settings.venue.name, feed.rest, futures)
        if shift:
            days = shift // 86_400_000
            log.info("%s candles run %d days after the real calendar", feed.venue, days)
        async with self.pool.acquire() as conn:
            await save_clock_shift(conn, feed.venue, shift)
        if futures:
            source = FundingSource(feed.venue, feed.rest, feed.symbols)
            self.funding.append(source)
            await refresh_funding(http, self.guards, source)  # before the first live candle
            register_refresher(http, self.guards, source)
        streams: list[tuple[str, str]] = []
        last: dict[tuple[str, str], int] = {}
        for sym in feed.symbols:
            rules = SymbolRules.from_exchange_info(info, sym)
            proc = StreamProcessor(
                self.settings, feed.venue, rules, tf, feed.market, self.agents, self.guards, shift
            )
            async with self.pool.acquire() as conn:
                resumed = await proc.restore(conn)
            sub = await self._sub_stream(rest, feed.venue, sym)
            if sub is not None:
                self.subs[(feed.venue, sym)] = sub
                streams.append((sym, sub.tf))
                if sub.last_open_time is not None:
                    last[(sym, sub.tf)] = sub.last_open_time
            self.feeds[(feed.venue, sym)] = SymbolFeed(
                self.pool, proc, sub, self.sub_wait_s, group=self.group
            )
            if resumed is None:
                resumed = await self._warm(rest, proc)
            else:
                log.info("%s %s %s resumes after candle %d", feed.venue, sym, tf, resumed)
            self.processors[(feed.venue, sym)] = proc
            streams.append((sym, tf))
            last[(sym, tf)] = resumed
        self.ingestors.append(
            KlineIngestor(rest, feed.ws, feed.venue, streams, last, self._enqueue)
        )

    async def _warm(self, rest: MarketRest, proc: StreamProcessor) -> int:
        warm = self.settings.market.warmup_candles
        candles, _ = await rest.closed_klines(proc.symbol, proc.tf, limit=warm + 1)
        candles = candles[-warm:]
        if not candles:
            raise RuntimeError(f"venue returned no history for {proc.symbol} {proc.tf}")
        for c in candles:
            await proc.process(self.pool, c, time.time(), live=False)
        log.info("%s warmed up on %d candles", proc.symbol, len(candles))
        return candles[-1].open_time

    async def _sub_stream(
        self, rest: MarketRest, venue: str, sym: str
    ) -> SubStreamProcessor | None:
        """The symbol's sub-timeframe stream, restored or warmed up; ``None`` when none is
        configured or the venue does not serve that interval for the symbol (-1120)."""
        m = self.settings.market
        if not m.sub_timeframe:
            return None
        sub = SubStreamProcessor(self.settings, venue, sym, m.sub_timeframe, m.timeframe)
        async with self.pool.acquire() as conn:
            resumed = await sub.restore(conn)
        ratio = TIMEFRAMES_MS[m.timeframe] // TIMEFRAMES_MS[m.sub_timeframe]
        limit = 2 if resumed is not None else min(SUB_WARMUP_MAX, (m.warmup_candles + 1) * ratio)
        try:
            candles, _ = await rest.closed_klines(sym, m.sub_timeframe, limit=limit)
        except MarketDataError as exc:
            if exc.code != INVALID_INTERVAL:
                raise
            log.warning(
                "%s %s: the venue has no %s klines (-1120); retests are confirmed without"
                " micro-BOS on this symbol",
                venue,
                sym,
                m.sub_timeframe,
            )
            return None
        if resumed is None:
            for c in candles:
                await sub.process(self.pool, c, time.time())
            log.info("%s %s %s warmed up on %d candles", venue, sym, m.sub_timeframe, len(candles))
        else:
            log.info("%s %s %s resumes after candle %d", venue, sym, m.sub_timeframe, resumed)
        return sub

    async def _enqueue(self, candle: Candle, received_at: float, live: bool) -> None:
        await self.feeds[(candle.venue, candle.symbol)].put(candle, received_at, live)


def settle_heap() -> None:
    """In the engine process, once every stream is warmed up: collect the garbage, then
    freeze what remains (the streams' long-lived state, modules, compiled kernels) out of
    the cyclic garbage collector's reach. A full collection then scans only what was made
    since, instead of pausing the loop for tens of milliseconds in the middle of a closing
    instant (what refcounting frees is still freed)."""
    gc.collect()
    gc.freeze()


async def serve_engine(settings: Settings, db_url: str) -> None:
    """Migrate, connect and run the engine until cancelled."""
    await migrate(db_url)
    pool = await connect_pool(db_url, settings.database.pool_size)
    try:
        # A database restart during the warm-up starts it over, resuming from what was
        # committed (as a restart of the process would); once running, every feed rides
        # out a restart by itself, so nothing else reaches this retry.
        await retry_while_unavailable(
            lambda: Engine(settings, pool, settle_heap=True).run(), Backoff("engine start-up")
        )
    finally:
        await pool.close()


def run_engine(settings: Settings) -> int:
    """``greenlight engine``: run until SIGINT/SIGTERM; return the exit code."""
    url = database_url(settings)

    try:
        run_until_signalled(
            lambda: serve_engine(settings, url), OpsServer.for_process(settings, "engine")
        )
    except (SymbolRulesError, ClockShiftError, AgentError) as exc:
        log.error("engine cannot start: %s", exc)
        return 2
    log.info("engine stopped")
    return 0


def _engine_readings(engine: Engine) -> Iterator[Reading]:
    """What the scrape reads off a running engine: queue depths and ingestion counters."""
    now = time.time()
    n = 0
    for (venue, symbol), feed in engine.feeds.items():
        yield "greenlight_queue_depth", (f"{venue}:{symbol}",), feed.queue.qsize()
        n += 1
    yield "greenlight_streams", (), n
    malformed = duplicates = 0
    for ing in engine.ingestors:
        st = ing.stats
        yield "greenlight_ws_reconnects", (f"market:{ing.venue}",), st.reconnects
        yield "greenlight_backfilled_candles", (ing.venue,), st.backfilled
        yield "greenlight_candles_ingested", (ing.venue,), st.emitted
        if st.last_frame_at:
            yield (
                "greenlight_market_data_age_seconds",
                (ing.venue,),
                max(0.0, now - st.last_frame_at),
            )
        malformed += st.malformed
        duplicates += st.duplicates
    yield "greenlight_dropped_messages", ("market_ws", "malformed"), malformed
    yield "greenlight_dropped_messages", ("market_ws", "duplicate"), duplicates
