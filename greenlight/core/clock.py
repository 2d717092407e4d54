"""The processes' clock, injected so that tests can drive time.

Everything in the router and the bot that reads the time asks a :class:`Clock`: wall time in
milliseconds (stamps, days, ages) and a monotonic reading in seconds (intervals that a
change of the wall clock must not stretch). :class:`SystemClock` reads the machine's.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where a process reads the time."""

    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals only)."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now_ms(self) -> int:
        """``time.time()`` in milliseconds."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


def utc_now(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.now_ms() / 1000, UTC)


def now_s(clock: Clock) -> float:
    """The clock's wall time in seconds since the epoch."""
    return clock.now_ms() / 1000
