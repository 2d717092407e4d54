"""Whether this process is ready, and if not why: what ``/readyz`` answers
(:mod:`greenlight.core.ops_http`). A process marks itself ready once it serves, and not ready
while it waits for something (:func:`greenlight.core.startup.retry_with_backoff`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Readiness:
    """Whether this process is ready, and if not, why (shown by ``/readyz``)."""

    ready: bool = False
    reason: str = "starting"
    since: float = field(default_factory=time.time)

    def set_ready(self) -> None:
        """The process serves: ``/readyz`` answers 200."""
        self.ready, self.reason, self.since = True, "ready", time.time()

    def not_ready(self, reason: str) -> None:
        """The process does not serve (yet): ``/readyz`` answers 503 with ``reason``."""
        self.ready, self.reason, self.since = False, reason, time.time()


READINESS = Readiness()  # one per process


def mark_ready() -> None:
    """Called by a process once it serves (after warm-up, listening, channels started)."""
    READINESS.set_ready()


def mark_not_ready(reason: str) -> None:
    """Called while a process waits for something (a venue, a chat service)."""
    READINESS.not_ready(reason)
