"""The engine process: ingest → pipeline per stream, with bounded queues between them."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass

import aiohttp
import asyncpg

from engine.contracts import Candle, Market
from engine.db import connect_pool, database_url, migrate
from engine.ingest.rest import MarketRest
from engine.ingest.stream import KlineIngestor
from engine.pipeline import StreamProcessor
from engine.settings import Settings, venue_endpoints
from engine.symbols import SymbolRules, SymbolRulesError

log = logging.getLogger(__name__)
QUEUE_SIZE = 1024


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
    """Runs one ingestor per market and one processing task per stream until cancelled."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self.processors: dict[tuple[str, str], StreamProcessor] = {}
        self._queues: dict[tuple[str, str], asyncio.Queue[tuple[Candle, float, bool]]] = {}
        self.ingestors: list[KlineIngestor] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Warm up every stream, then follow the markets until cancelled."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for feed in market_feeds(self.settings):
                await self._prepare(http, feed)
            async with asyncio.TaskGroup() as tg:
                for key in self.processors:
                    tg.create_task(self._consume(key), name=f"stream-{key[0]}-{key[1]}")
                for ing in self.ingestors:
                    tg.create_task(ing.run(), name="ingest")
                self.ready.set()

    async def _prepare(self, http: aiohttp.ClientSession, feed: MarketFeed) -> None:
        tf = self.settings.market.timeframe
        rest = MarketRest(http, feed.rest, feed.venue, feed.prefix)
        info = await rest.exchange_info(list(feed.symbols))
        last: dict[str, int] = {}
        for sym in feed.symbols:
            rules = SymbolRules.from_exchange_info(info, sym)
            proc = StreamProcessor(self.settings, feed.venue, rules, tf, feed.market)
            self.processors[(feed.venue, sym)] = proc
            last[sym] = await self._restore_or_warm(rest, proc)
            self._queues[(feed.venue, sym)] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.ingestors.append(
            KlineIngestor(rest, feed.ws, feed.venue, list(feed.symbols), tf, last, self._enqueue)
        )

    async def _restore_or_warm(self, rest: MarketRest, proc: StreamProcessor) -> int:
        async with self.pool.acquire() as conn:
            resumed = await proc.restore(conn)
        if resumed is not None:
            log.info("%s resumes after candle %d", proc.symbol, resumed)
            return resumed
        warm = self.settings.market.warmup_candles
        candles, _ = await rest.closed_klines(proc.symbol, proc.tf, limit=warm + 1)
        if not candles:
            raise RuntimeError(f"venue returned no history for {proc.symbol} {proc.tf}")
        for c in candles:
            await proc.process(self.pool, c, time.time(), live=False)
        log.info("%s warmed up on %d candles", proc.symbol, len(candles))
        return candles[-1].open_time

    async def _enqueue(self, candle: Candle, received_at: float, live: bool) -> None:
        await self._queues[(candle.venue, candle.symbol)].put((candle, received_at, live))

    async def _consume(self, key: tuple[str, str]) -> None:
        queue, proc = self._queues[key], self.processors[key]
        while True:
            candle, received_at, live = await queue.get()
            outcome = await proc.process(self.pool, candle, received_at, live)
            if outcome.decision_id is not None:
                log.info("decision #%d %s %s", outcome.decision_id, key, candle.open_time)


async def serve_engine(settings: Settings, db_url: str) -> None:
    """Migrate, connect and run the engine until cancelled."""
    await migrate(db_url)
    pool = await connect_pool(db_url, settings.database.pool_size)
    try:
        await Engine(settings, pool).run()
    finally:
        await pool.close()


def run_engine(settings: Settings) -> int:
    """``greenlight engine``: run until SIGINT/SIGTERM; return the exit code."""
    url = database_url(settings)

    async def main() -> None:
        task = asyncio.create_task(serve_engine(settings, url))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("engine stopped")

    try:
        asyncio.run(main())
    except SymbolRulesError as exc:
        log.error("engine cannot start: %s", exc)
        return 2
    return 0
