"""A clock the test moves by hand (a :class:`greenlight.core.clock.Clock` for router and bot)."""

from __future__ import annotations

from datetime import UTC, datetime


class FakeClock:
    """Wall time and a monotonic reading that change only when the test says so."""

    def __init__(self, start: datetime | None = None, monotonic: float = 1_000.0) -> None:
        self.now = start or datetime(2026, 12, 1, tzinfo=UTC)
        self._monotonic = monotonic

    def now_ms(self) -> int:
        """The wall time set by the test, in milliseconds."""
        return int(self.now.timestamp() * 1000)

    def monotonic(self) -> float:
        """The monotonic reading set by the test."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.now = datetime.fromtimestamp(self.now.timestamp() + seconds, UTC)
        self._monotonic += seconds
