"""The bot's Prometheus metrics (served by :mod:`greenlight.core.ops_http`): decision → confirmation
delivered, chart render time, chat delivery time per channel, and what the bot's loop waits on.
Durations are read from the bot's clock.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from prometheus_client import Counter, Histogram

from greenlight.core.clock import Clock, now_s
from greenlight.core.metrics import LATENCY_BUCKETS

T = TypeVar("T")

DECISION_TO_CONFIRMATION = Histogram(
    "greenlight_decision_to_confirmation_seconds",
    "Decision committed → confirmation (text and chart) delivered on every channel",
    buckets=LATENCY_BUCKETS,
)
CHART_RENDER = Histogram(
    "greenlight_chart_render_seconds",
    "Chart snapshot of a decision rendered (query and PNG)",
    buckets=LATENCY_BUCKETS,
)
CHAT_DELIVERY = Histogram(
    "greenlight_chat_delivery_seconds",
    "One message delivered by one chat channel",
    ["channel", "kind"],
    buckets=LATENCY_BUCKETS,
)
CHAT_FAILURES = Counter(
    "greenlight_chat_delivery_failures_total", "Messages a channel failed to deliver", ["channel"]
)


async def timed(histogram: Histogram, work: Awaitable[T], clock: Clock) -> T:
    """Await ``work`` and observe how long it took in ``histogram`` (also when it fails)."""
    started = clock.monotonic()
    try:
        return await work
    finally:
        histogram.observe(clock.monotonic() - started)


def confirmation_delivered(created_at: datetime | None, clock: Clock) -> None:
    """Observe decision → confirmation for a decision whose messages were just sent."""
    if created_at is not None:
        DECISION_TO_CONFIRMATION.observe(max(0.0, now_s(clock) - created_at.timestamp()))
