"""Kline websocket ingestion with REST backfill.

Emits each closed candle exactly once and in order per stream: on (re)connect, and whenever a
closing frame arrives after a hole, the gap is filled over REST before anything newer is
emitted. In-progress updates (``x`` false) are ignored; malformed frames are counted and
logged, never emitted.

Whether a candle is *live* (may become a decision) is judged on the venue's clock, never by
how fast we drain our queues: a candle is live when, at the venue time it reached us (the
frame's event time ``E``, or ``serverTime`` when it came from a backfill), it was still the
newest closed candle of its stream. The same candle sequence therefore yields the same
decisions on a fast machine and on a loaded one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets

from engine.events import Candle
from engine.ingest.rest import MarketDataError, MarketRest
from engine.metrics import BACKFILL_SECONDS
from greenlight.core.settings import TIMEFRAMES_MS

log = logging.getLogger(__name__)

# Called with the candle, the wall-clock receive time (epoch seconds) and whether it is live
# (see :func:`is_live`).
CandleSink = Callable[[Candle, float, bool], Awaitable[None]]


def is_live(close_time: int, venue_now_ms: int, tf_ms: int) -> bool:
    """Whether a candle closing at ``close_time`` was still the newest closed candle of its
    stream at venue time ``venue_now_ms`` (the next one had not closed yet)."""
    return venue_now_ms - close_time <= tf_ms


@dataclass(frozen=True, slots=True)
class KlineClose:
    """A closed candle and the venue time of the frame that carried it."""

    candle: Candle
    event_time: int


class FrameError(ValueError):
    """A websocket frame is not a well-formed Binance kline event."""


def parse_kline_frame(venue: str, raw: str | bytes) -> Candle | None:
    """Decode a (combined or raw) kline frame; ``None`` for in-progress updates and acks."""
    closed = parse_kline_event(venue, raw)
    return None if closed is None else closed.candle


def parse_kline_event(venue: str, raw: str | bytes) -> KlineClose | None:
    """Like :func:`parse_kline_frame`, with the frame's event time ``E``."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"not JSON: {raw[:80]!r}") from exc
    if not isinstance(msg, dict):
        raise FrameError("frame is not a JSON object")
    if "result" in msg and "id" in msg:
        return None  # reply to a control message
    data = msg.get("data", msg)
    if not isinstance(data, dict) or data.get("e") != "kline":
        raise FrameError(f"not a kline event: {str(msg)[:80]}")
    k = data.get("k")
    if not isinstance(k, dict):
        raise FrameError("kline event without 'k'")
    if k.get("x") is not True:
        return None
    try:
        candle = Candle(
            venue=venue,
            symbol=str(k["s"]),
            tf=str(k["i"]),
            open_time=int(k["t"]),
            close_time=int(k["T"]),
            open=float(k["o"]),
            high=float(k["h"]),
            low=float(k["l"]),
            close=float(k["c"]),
            volume=float(k["v"]),
        )
        event_time = int(data["E"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameError(f"kline payload missing or malformed field: {exc}") from exc
    return KlineClose(candle, event_time)


@dataclass
class IngestStats:
    """Counters for monitoring and tests."""

    emitted: int = 0
    backfilled: int = 0
    duplicates: int = 0
    malformed: int = 0
    reconnects: int = 0
    last_frame_at: float = 0.0
    gaps_reported: list[tuple[str, int, int]] = field(default_factory=list)


StreamKey = tuple[str, str]  # (symbol, interval)


class KlineIngestor:
    """Follows ``<symbol>@kline_<interval>`` for several (symbol, interval) streams over one
    combined stream; order, dedupe and backfill are per stream, finer intervals first."""

    def __init__(
        self,
        rest: MarketRest,
        ws_base: str,
        venue: str,
        streams: Sequence[StreamKey],
        last_open_time: Mapping[StreamKey, int],
        sink: CandleSink,
        max_backoff_s: float = 5.0,
    ) -> None:
        for sym, tf in streams:
            if tf not in TIMEFRAMES_MS:
                raise ValueError(f"{sym}: unknown interval {tf!r}")
        if not streams or len(set(streams)) != len(streams):
            raise ValueError(f"need distinct (symbol, interval) streams, got {list(streams)}")
        self._rest = rest
        # Finest first, so that after a reconnect a parent candle follows its sub candles.
        self._streams = sorted(streams, key=lambda k: (TIMEFRAMES_MS[k[1]], k[0]))
        names = "/".join(f"{s.lower()}@kline_{tf}" for s, tf in self._streams)
        self._url = f"{ws_base.rstrip('/')}/stream?streams={names}"
        self._venue = venue
        self._tf_ms = {k: TIMEFRAMES_MS[k[1]] for k in self._streams}
        self._last = {k: v for k, v in last_open_time.items() if k in self._tf_ms}
        self._sink = sink
        self._max_backoff = max_backoff_s
        self.stats = IngestStats()
        self.connected = asyncio.Event()

    @property
    def venue(self) -> str:
        """The venue name stored with this ingestor's candles."""
        return self._venue

    @property
    def streams(self) -> list[StreamKey]:
        """The (symbol, interval) streams followed, finest interval first."""
        return list(self._streams)

    def last_open_time(self, symbol: str, tf: str) -> int | None:
        """Open time of the newest candle emitted for ``symbol`` at interval ``tf``."""
        return self._last.get((symbol, tf))

    async def run(self) -> None:
        """Connect, backfill, follow; reconnect with back-off until cancelled."""
        backoff = 0.05
        while True:
            try:
                async with websockets.connect(self._url, max_queue=None) as ws:
                    self.connected.set()
                    backoff = 0.05
                    await self._backfill_all()
                    await self._follow(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException, MarketDataError) as exc:
                log.warning("market stream interrupted: %s", exc)
            self.connected.clear()
            self.stats.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _follow(self, ws: Any) -> None:
        async for raw in ws:
            self.stats.last_frame_at = time.time()
            try:
                closed = parse_kline_event(self._venue, raw)
            except FrameError as exc:
                self.stats.malformed += 1
                log.error("ignored malformed market frame: %s", exc)
                continue
            if closed is None:
                continue
            candle = closed.candle
            key = (candle.symbol, candle.tf)
            step = self._tf_ms.get(key)
            if step is None:
                continue
            last = self._last.get(key)
            if last is not None and candle.open_time <= last:
                self.stats.duplicates += 1
                continue
            if last is not None and candle.open_time > last + step:
                await self._backfill(key, until=candle.open_time)
                if candle.open_time <= self._last.get(key, -1):
                    continue
            await self._emit(
                candle, time.time(), is_live(candle.close_time, closed.event_time, step)
            )

    async def _backfill_all(self) -> None:
        for key in self._streams:
            if key in self._last:
                await self._backfill(key, until=None)

    async def _backfill(self, key: StreamKey, until: int | None) -> None:
        symbol, tf = key
        last, step = self._last[key], self._tf_ms[key]
        started = time.perf_counter()
        candles = await self._rest.backfill(symbol, tf, last)
        BACKFILL_SECONDS.observe(time.perf_counter() - started)
        if until is not None:
            # older than a frame that already closed: history
            candles = [c for c in candles if c.open_time < until]
            venue_now = None
        else:
            venue_now = await self._rest.server_time() if candles else None
        expected = last + step
        for c in candles:
            if c.open_time != expected:
                self.stats.gaps_reported.append((f"{symbol} {tf}", expected, c.open_time))
                log.warning(
                    "venue has no candles for %s %s from %d to %d",
                    symbol,
                    tf,
                    expected,
                    c.open_time,
                )
            expected = c.open_time + step
            self.stats.backfilled += 1
            live = venue_now is not None and is_live(c.close_time, venue_now, step)
            await self._emit(c, time.time(), live)

    async def _emit(self, candle: Candle, received_at: float, live: bool) -> None:
        self._last[(candle.symbol, candle.tf)] = candle.open_time
        self.stats.emitted += 1
        await self._sink(candle, received_at, live)
