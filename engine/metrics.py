"""The engine's Prometheus metrics (served by :mod:`engine.ops_http`).

Latencies are observed where they happen (small hooks in the stream consumer and the
ingestor); counters the ingestor and queues already keep are read at scrape time by the one
:class:`LiveCollector` of the process, so the hot path does no extra work for them. The router
and the simulator declare their own live families on the same collector (:func:`declare`,
:func:`watch`), so a family two processes share (``greenlight_ws_reconnects_total``) is one
family.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from engine.pipeline import Outcome
    from engine.service import Engine

log = logging.getLogger(__name__)
# 1 ms … 10 s: loopback paths are milliseconds, a stalled one shows in the top buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CLOSE_TO_DECISION = Histogram(
    "greenlight_close_to_decision_seconds",
    "Closing kline received → decision committed (decisions only)",
    ["venue"],
    buckets=LATENCY_BUCKETS,
)
CANDLE_PROCESSING = Histogram(
    "greenlight_candle_processing_seconds",
    "Closing kline received → candle analysed and committed (every live candle)",
    ["venue"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_LAG = Histogram(
    "greenlight_queue_lag_seconds",
    "Closed candle received → taken off its stream queue",
    buckets=LATENCY_BUCKETS,
)
CANDLE_BATCH = Histogram(
    "greenlight_candle_batch_candles",
    "Candles of every stream committed together in one transaction (streams closing at once)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
CANDLE_BATCH_SECONDS = Histogram(
    "greenlight_candle_batch_seconds",
    "One group of candles: the in-memory steps (advance), then its transaction (commit)",
    ["phase"],
    buckets=LATENCY_BUCKETS,
)
BACKFILL_SECONDS = Histogram(
    "greenlight_backfill_seconds",
    "One REST backfill of a stream after a (re)connect or a gap",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SIGNALS = Counter(
    "greenlight_signals_total", "Signals on live candles by outcome", ["venue", "outcome"]
)
GUARD_VERDICTS = Counter(
    "greenlight_guard_verdicts_total",
    "Guard verdicts: the engine's entry gate per live signal, the router's trip checks",
    ["guard", "verdict"],
)

_GUARDS = (
    ("regime ", "regime"),
    ("trading is disabled", "kill_switch"),
    ("a decision on this symbol", "max_open_positions"),
    ("account equity unknown", "equity_unknown"),
    ("cannot be sized", "sizing"),
)
_NOT_VERDICTS = ("not a live candle", "signal already recorded", "already processed")


def guard_of(reason: str) -> str:
    """The guard named by an engine skip reason (``other`` when it is none of the known)."""
    return next((g for prefix, g in _GUARDS if reason.startswith(prefix)), "other")


# Exact observations for benchmarks (bench/bench_fanin.py): called with (kind, seconds), kind
# "candle" (closing kline received → committed) or "queue_lag".
LISTENERS: list[Callable[[str, float], None]] = []


def observe_queue_lag(received_at: float) -> None:
    """Record how long a candle waited in its stream's queue."""
    lag = max(0.0, time.time() - received_at)
    QUEUE_LAG.observe(lag)
    for listener in LISTENERS:
        listener("queue_lag", lag)


def observe_batch(candles: int, advance_s: float, commit_s: float) -> None:
    """Record one group of candles committed together (:mod:`engine.candle_batch`)."""
    CANDLE_BATCH.observe(candles)
    CANDLE_BATCH_SECONDS.labels("advance").observe(advance_s)
    CANDLE_BATCH_SECONDS.labels("commit").observe(commit_s)


def observe_outcome(outcome: Outcome, received_at: float, live: bool, venue: str) -> None:
    """Record one processed parent candle: its latency, and its signal's verdict."""
    if not (live and outcome.processed):
        return
    elapsed = time.time() - received_at
    for listener in LISTENERS:
        listener("candle", elapsed)
    CANDLE_PROCESSING.labels(venue).observe(elapsed)
    if outcome.decision_id is not None:
        CLOSE_TO_DECISION.labels(venue).observe(elapsed)
        SIGNALS.labels(venue, "decision").inc()
        GUARD_VERDICTS.labels("entry_gate", "pass").inc()
    elif outcome.signal is not None and outcome.skipped_because:
        if outcome.skipped_because.startswith(_NOT_VERDICTS):
            return
        SIGNALS.labels(venue, "skipped").inc()
        GUARD_VERDICTS.labels(guard_of(outcome.skipped_because), "block").inc()


# A live reading: (family, label values, value).
Reading = tuple[str, tuple[str, ...], float]
Reader = Callable[[Any], Iterable[Reading]]


class LiveCollector(Collector):
    """Families whose values are read from live objects at scrape time (in the loop thread)."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[Literal["gauge", "counter"], str, tuple[str, ...]]] = {}
        self.sources: list[tuple[weakref.ref[Any], Reader]] = []

    def collect(self) -> Iterator[Metric]:
        """One family per declared name, with every watched object's readings."""
        out: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, (kind, doc, labels) in self.families.items():
            cls = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            out[name] = cls(name, doc, labels=list(labels))
        alive = [(ref, reader) for ref, reader in self.sources if ref() is not None]
        self.sources = alive
        for ref, reader in alive:
            obj = ref()
            if obj is None:
                continue
            try:
                for name, labels, value in reader(obj):
                    out[name].add_metric(list(labels), value)
            except Exception:  # one broken reading must not cost the whole scrape
                log.exception("metrics reader %s failed", getattr(reader, "__name__", reader))
        yield from out.values()


LIVE = LiveCollector()


def declare(name: str, kind: Literal["gauge", "counter"], doc: str, *labels: str) -> None:
    """Declare a live family (counters without ``_total``: the exposition adds it)."""
    LIVE.families[name] = (kind, doc, labels)


def watch(obj: object, reader: Reader) -> None:
    """Read ``reader(obj)`` at every scrape while ``obj`` is alive."""
    LIVE.sources.append((weakref.ref(obj), reader))


declare("greenlight_queue_depth", "gauge", "Candles waiting in a stream's queue", "stream")
declare("greenlight_streams", "gauge", "Streams the engine follows")
declare("greenlight_ws_reconnects", "counter", "Websocket reconnects", "stream")
declare("greenlight_backfilled_candles", "counter", "Candles fetched by REST backfill", "venue")
declare("greenlight_candles_ingested", "counter", "Closed candles from ingestion", "venue")
declare("greenlight_dropped_messages", "counter", "Messages dropped", "queue", "reason")
declare(
    "greenlight_market_data_age_seconds", "gauge", "Seconds since the last market frame", "venue"
)


def _engine_readings(engine: Engine) -> Iterator[Reading]:
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


def watch_engine(engine: Engine) -> None:
    """Include ``engine``'s queues and ingestors in the scrape (until it is collected)."""
    watch(engine, _engine_readings)


REGISTRY.register(LIVE)
