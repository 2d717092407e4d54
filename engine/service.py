"""The engine process: ingest → pipeline per stream, with bounded queues between them."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import aiohttp
import asyncpg

from engine.contracts import Candle
from engine.db import connect_pool, database_url, migrate
from engine.ingest.rest import MarketRest
from engine.ingest.stream import KlineIngestor
from engine.pipeline import StreamProcessor
from engine.settings import Settings, venue_endpoints
from engine.symbols import SymbolRules, SymbolRulesError

log = logging.getLogger(__name__)
QUEUE_SIZE = 1024


class Engine:
    """Runs one ingestor and one processing task per stream until cancelled."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self.venue = settings.venue.name
        self.processors: dict[str, StreamProcessor] = {}
        self._queues: dict[str, asyncio.Queue[tuple[Candle, float, bool]]] = {}
        self.ingestor: KlineIngestor | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Warm up every stream, then follow the market until cancelled."""
        endpoints = venue_endpoints(self.settings)
        tf = self.settings.market.timeframe
        symbols = list(self.settings.market.symbols)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            rest = MarketRest(http, endpoints.rest, self.venue)
            info = await rest.exchange_info(symbols)
            last: dict[str, int] = {}
            for sym in symbols:
                rules = SymbolRules.from_exchange_info(info, sym)
                proc = StreamProcessor(self.settings, self.venue, rules, tf)
                self.processors[sym] = proc
                last[sym] = await self._restore_or_warm(rest, proc)
                self._queues[sym] = asyncio.Queue(maxsize=QUEUE_SIZE)
            self.ingestor = KlineIngestor(
                rest, endpoints.market_ws, self.venue, symbols, tf, last, self._enqueue
            )
            async with asyncio.TaskGroup() as tg:
                for sym in symbols:
                    tg.create_task(self._consume(sym), name=f"stream-{sym}")
                tg.create_task(self.ingestor.run(), name="ingest")
                self.ready.set()

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
        await self._queues[candle.symbol].put((candle, received_at, live))

    async def _consume(self, symbol: str) -> None:
        queue, proc = self._queues[symbol], self.processors[symbol]
        while True:
            candle, received_at, live = await queue.get()
            outcome = await proc.process(self.pool, candle, received_at, live)
            if outcome.decision_id is not None:
                log.info("decision #%d %s %s", outcome.decision_id, symbol, candle.open_time)


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
