"""The paper venue's market clock: time, prices and klines as the market-data source
reports them (:class:`sim.market_clock.MarketClock`, in place of a file replay).

The clock is the source's: the event time of every frame it streams and its server time,
polled every ``poll_s`` (never extrapolated, so a paused simulator upstream holds it still).
Frames of the finest interval move the prices (:mod:`sim.paper.path`) and reach the
listeners as :class:`~sim.replay.player.KlineUpdate` batches, exactly as a replay step would; every
frame is cached and handed to the frame listeners (relayed to the venue's own streams).
After a (re)connection the klines the stream may have missed are read over REST and walked
through in order, so a stop the market crossed meanwhile still fires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

import aiohttp
import orjson

from sim.errors import SimError
from sim.paper.frames import FrameError, KlineFrame, Row, decode, ohlc
from sim.paper.klines import KlineCache
from sim.paper.path import PathTracker
from sim.paper.upstream import INVALID_INTERVAL, Upstream, UpstreamError
from sim.replay.player import KlineUpdate

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0
PAGE = 1000
FOLLOWS_SOURCE = (
    "The paper venue follows the clock of its market-data source; pause, resume, speed and "
    "advance that source instead."
)
_LINK_ERRORS = (aiohttp.ClientError, UpstreamError, FrameError, OSError, TimeoutError)


class LiveFeed:
    """Market time, last prices and kline rows of the source, for ``symbols`` on
    ``intervals`` (finest first: the finest a symbol has moves its prices);
    ``range_interval`` (the trading timeframe) gives the candle range the slippage reads."""

    def __init__(
        self,
        upstream: Upstream,
        symbols: Sequence[str],
        intervals: Sequence[str],
        range_interval: str,
        history: int = PAGE,
        poll_s: float = 1.0,
    ) -> None:
        self.upstream = upstream
        self.symbols = list(symbols)
        self.intervals = tuple(intervals)
        # per symbol, the intervals the source serves (finest first: it moves the prices)
        self.intervals_of: dict[str, tuple[str, ...]] = {s: self.intervals for s in symbols}
        self.range_interval = range_interval
        self.history = history
        self.poll_s = poll_s
        self.shift_ms = 0
        self.last_price: dict[str, float] = {}
        self.in_progress: dict[str, KlineUpdate] = {}
        self.cache = KlineCache()
        self.connected = False
        self.reconnects = 0
        self._now = 0
        self._closed = 0
        self._paths = PathTracker()
        self._listeners: list[Callable[[list[KlineUpdate]], None]] = []
        self._frame_listeners: list[Callable[[KlineFrame], None]] = []

    # ---- MarketClock -----------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        """The source's time: the latest frame event time or polled server time."""
        return self._now

    @property
    def replayed(self) -> int:
        """Candles of the finest interval closed since start (all symbols)."""
        return self._closed

    @property
    def total(self) -> int:
        """0: a live market does not end."""
        return 0

    @property
    def finished(self) -> bool:
        """Never: a live market does not end."""
        return False

    @property
    def paused(self) -> bool:
        """Never held here (a simulator upstream may be)."""
        return False

    @property
    def candles_per_second(self) -> float:
        """0: the source's own pace."""
        return 0.0

    @property
    def current_open_time(self) -> int:
        """Open time of the newest candle in progress (or of the clock's candle)."""
        opens = [u.open_time for u in self.in_progress.values()]
        return max(opens) if opens else self._now

    def visible_range(self, symbol: str) -> tuple[int, int]:
        """No file rows: klines are served from :attr:`cache`."""
        return 0, 0

    def add_listener(self, fn: Callable[[list[KlineUpdate]], None]) -> None:
        """Call ``fn`` with the price updates of every frame of the finest interval."""
        self._listeners.append(fn)

    def add_frame_listener(self, fn: Callable[[KlineFrame], None]) -> None:
        """Call ``fn`` with every frame, after the prices moved."""
        self._frame_listeners.append(fn)

    def pause(self) -> None:
        """Refused: the source's clock rules."""
        raise SimError(-1130, FOLLOWS_SOURCE)

    def resume(self) -> None:
        """Refused: the source's clock rules."""
        raise SimError(-1130, FOLLOWS_SOURCE)

    def set_speed(self, candles_per_second: float) -> None:
        """Refused: the source's clock rules."""
        raise SimError(-1130, FOLLOWS_SOURCE)

    def advance(self, ms: int) -> int:
        """Refused: the source's clock rules."""
        raise SimError(-1130, FOLLOWS_SOURCE)

    # ---- what the source says --------------------------------------------------------
    def observe(self, time_ms: int) -> None:
        """The source's clock read ``time_ms`` (it never goes back)."""
        self._now = max(self._now, time_ms)

    def on_message(self, message: object) -> None:
        """One decoded stream message (kline frames are used, the rest ignored)."""
        frame = decode(message)
        if frame is not None and frame.symbol in self.last_price:
            self.on_frame(frame)

    def on_frame(self, f: KlineFrame) -> None:
        """A kline frame: clock, cache, prices (finest interval), then frame listeners."""
        self.observe(f.event_time)
        self.cache.apply(f)
        if f.interval == self.intervals_of[f.symbol][0]:
            self._move(f.symbol, f.row, f.closed)
        for fn in self._frame_listeners:
            fn(f)

    def _move(self, symbol: str, row: Row, closed: bool) -> None:
        """Walk the prices of ``symbol`` to this state of a candle and tell the listeners."""
        bar = ohlc(row)
        last = self.last_price.get(symbol, bar[0])
        path = self._paths.update(symbol, int(row[0]), bar, last)
        if not path:
            return
        o, h, lo, c = bar
        open_time, close_time = int(row[0]), int(row[6])
        span = max(close_time + 1 - open_time, 1)
        t = 1.0 if closed else min(max((self._now - open_time) / span, 0.0), 0.999)
        u = KlineUpdate(symbol, open_time, close_time, o, h, lo, c, float(row[5]), closed, path, t)
        self.last_price[symbol] = c
        if closed:
            self._closed += 1
            self.in_progress.pop(symbol, None)
        else:
            self.in_progress[symbol] = u
        for fn in self._listeners:
            fn([u])

    def bar_range(self, symbol: str) -> Decimal:
        """High − low of the last closed ``range_interval`` candle (0 before the first)."""
        row = self.cache.last_closed(symbol, self.range_interval)
        if row is None:
            return Decimal(0)
        return Decimal(str(row[2])) - Decimal(str(row[3]))

    # ---- following the source --------------------------------------------------------
    async def start(self) -> None:
        """Read the source's clock, shift and recent klines (prices start at the newest).
        An interval the source does not serve for a symbol (``-1120``; the simulator never
        invents finer candles) is left out for it, except the trading timeframe."""
        self.observe(await self.upstream.server_time())
        self.shift_ms = await self.upstream.clock_shift()
        for symbol in self.symbols:
            served: list[str] = []
            for interval in self.intervals:
                now = self._now
                try:
                    rows = await self.upstream.klines(symbol, interval, self.history)
                except UpstreamError as exc:
                    if exc.code != INVALID_INTERVAL or interval == self.range_interval:
                        raise
                    log.info("paper: the source has no %s klines of %s", interval, symbol)
                    continue
                self.cache.seed(symbol, interval, rows, now, self.history)
                if not served and rows:
                    self._paths.update(symbol, int(rows[-1][0]), ohlc(rows[-1]), 0.0)
                    self.last_price[symbol] = float(rows[-1][4])
                served.append(interval)
            self.intervals_of[symbol] = tuple(served)
        missing = [s for s in self.symbols if s not in self.last_price]
        if missing:
            raise UpstreamError(f"the market-data source has no klines for {missing}")

    async def run(self) -> None:
        """Follow the source until cancelled: its streams and its clock."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._poll(), name="paper-clock")
            tg.create_task(self._follow(), name="paper-streams")

    def stream_names(self) -> list[str]:
        """The source's streams this feed subscribes to."""
        return [f"{s.lower()}@kline_{i}" for s in self.symbols for i in self.intervals_of[s]]

    async def _follow(self) -> None:
        delay = FIRST_DELAY_S
        while True:
            try:
                async with self.upstream.stream(self.stream_names()) as ws:
                    await self._catch_up()
                    self.connected, delay = True, FIRST_DELAY_S
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self.on_message(orjson.loads(msg.data))
                        elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                log.warning("paper: market stream of %s closed", self.upstream.ws_url)
            except (*_LINK_ERRORS, orjson.JSONDecodeError) as exc:
                log.warning("paper: market stream of %s: %r", self.upstream.ws_url, exc)
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)

    async def _catch_up(self) -> None:
        """Klines since the newest closed one held, read over REST and walked in order:
        the clock moves through them (a missed candle's fills happen at its close) and the
        cache grows with them, so each fill reads the candle range it would have live."""
        now = await self.upstream.server_time()
        for symbol in self.symbols:
            match, *rest = self.intervals_of[symbol]
            fetched = {i: await self._missed(symbol, i) for i in (match, *rest)}
            others = sorted(
                ((int(r[6]) + 1, i, r) for i in rest for r in fetched[i]), key=lambda x: x[0]
            )
            for row in fetched[match]:
                closed = int(row[6]) < now
                moment = int(row[6]) + 1 if closed else now
                while others and others[0][0] <= moment:
                    _, interval, other = others.pop(0)
                    self.cache.seed(symbol, interval, [other], now, 1)
                self.observe(min(moment, now))
                self.cache.seed(symbol, match, [row], now, 1)
                self._move(symbol, row, closed)
            for _, interval, other in others:
                self.cache.seed(symbol, interval, [other], now, 1)
        self.observe(now)

    async def _missed(self, symbol: str, interval: str) -> list[Row]:
        """The source's rows after the newest closed one held (paged), oldest first."""
        newest = self.cache.last_closed(symbol, interval)
        start = int(newest[0]) + 1 if newest is not None else None
        out: list[Row] = []
        while True:
            rows = await self.upstream.klines(symbol, interval, PAGE, start)
            out += rows
            if len(rows) < PAGE:
                return out
            start = int(rows[-1][0]) + 1

    async def _poll(self) -> None:
        failing = False
        while True:
            try:
                self.observe(await self.upstream.server_time())
                if failing:
                    log.info("paper: the clock of %s answers again", self.upstream.rest_url)
                failing = False
            except _LINK_ERRORS as exc:
                if not failing:
                    log.warning("paper: clock of %s: %r", self.upstream.rest_url, exc)
                failing = True
            await asyncio.sleep(self.poll_s)
