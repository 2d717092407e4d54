"""Automatic IP request-weight limits: 429 with ``Retry-After`` when a minute's budget is
spent, then escalating 418 bans for a client that keeps sending while limited.

Budgets are per IP and per market (spot ``/api``, USD-M ``/fapi``), per wall-clock minute,
as on Binance (spot 6000, futures 2400 by default). A client that sends more than
``ban_after`` requests while it is being answered 429 is banned for ``ban_seconds``; every
further ban doubles, capped at 3 days. ``clock`` is injectable so tests can compress time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

THREE_DAYS = 3 * 86_400.0


@dataclass(frozen=True)
class Verdict:
    """Outcome for one request: ``status`` 200 (go on), 429 or 418, and ``retry_after`` s."""

    status: int
    used: int
    retry_after: int = 0
    banned_until_ms: int = 0


@dataclass
class _Client:
    minute: int = -1
    used: int = 0
    ignored: int = 0
    bans: int = 0
    banned_until: float = 0.0


class RateLimiter:
    """Weight accounting and ban escalation per (IP, market)."""

    def __init__(
        self,
        spot_limit: int = 6000,
        futures_limit: int = 2400,
        ban_after: int = 5,
        ban_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min(spot_limit, futures_limit, ban_after) < 1 or ban_seconds <= 0:
            raise ValueError("limits, ban_after and ban_seconds must be positive")
        self.limits = {"spot": spot_limit, "futures": futures_limit}
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.clock = clock
        self._clients: dict[tuple[str, str], _Client] = {}

    def limit_of(self, market: str) -> int:
        """The per-minute weight budget of ``market``."""
        return self.limits[market]

    def charge(self, ip: str, market: str, weight: int) -> Verdict:
        """Account ``weight`` for ``ip`` and decide whether the request may run."""
        now = self.clock()
        c = self._clients.setdefault((ip, market), _Client())
        if c.banned_until > now:
            return Verdict(418, c.used, _ceil(c.banned_until - now), int(c.banned_until * 1000))
        minute = int(now // 60)
        if minute != c.minute:
            c.minute, c.used, c.ignored = minute, 0, 0
        c.used += weight
        if c.used <= self.limits[market]:
            return Verdict(200, c.used)
        c.ignored += 1
        if c.ignored > self.ban_after:
            c.banned_until = now + min(self.ban_seconds * 2**c.bans, THREE_DAYS)
            c.bans += 1
            c.ignored = 0
            return Verdict(418, c.used, _ceil(c.banned_until - now), int(c.banned_until * 1000))
        return Verdict(429, c.used, _ceil((minute + 1) * 60 - now))


def _ceil(seconds: float) -> int:
    return max(1, int(-(-seconds // 1)))


def too_much_message(limit: int, market: str) -> str:
    """The ``-1003`` text of a 429."""
    if market == "futures":
        return f"Too many requests; current limit is {limit} requests per minute. " + AVOID
    return (
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        + AVOID
    )


def ban_message(until_ms: int) -> str:
    """The ``-1003`` text of a 418."""
    return f"Way too much request weight used; IP banned until {until_ms}. " + AVOID_BAN


AVOID = "Please use WebSocket Streams for live updates to avoid polling the API."
AVOID_BAN = "Please use WebSocket Streams for live updates to avoid bans."
