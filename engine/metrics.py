"""The engine's Prometheus metrics (served by :mod:`greenlight.core.ops_http`).

Latencies are observed where they happen (small hooks in the stream consumer and the
ingestor); counters the ingestor and queues already keep are read at scrape time by the
process's live collector (:mod:`greenlight.core.metrics`, which also holds the families the
engine shares with the router and the simulator), so the hot path does no extra work for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

from greenlight.core.metrics import GUARD_VERDICTS, LATENCY_BUCKETS, declare

if TYPE_CHECKING:
    from engine.pipeline import Outcome

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


declare("greenlight_queue_depth", "gauge", "Candles waiting in a stream's queue", "stream")
declare("greenlight_streams", "gauge", "Streams the engine follows")
declare("greenlight_backfilled_candles", "counter", "Candles fetched by REST backfill", "venue")
declare("greenlight_candles_ingested", "counter", "Closed candles from ingestion", "venue")
declare(
    "greenlight_market_data_age_seconds", "gauge", "Seconds since the last market frame", "venue"
)
