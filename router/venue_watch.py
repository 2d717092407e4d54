"""Is the venue alive? Heartbeats on its REST API and user data streams, and the watch that
halts trading when any of them has been silent longer than ``guards.user_stream_down_s``.

A venue can freeze without closing anything (a stopped process, a hung gateway): TCP stays
up, requests simply get no answer. So silence is measured from the last *answer* on each
link — a REST time request (:class:`RestHeartbeat`), a pong on a user data stream
(:class:`router.venues.reconnect.ReconnectingStream`) — never from the moment a client gave
up, and each heartbeat is short enough that a frozen venue is noticed within the bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from greenlight.core.clock import Clock, SystemClock
from router.venues.binance_http import BinanceRest
from router.venues.reconnect import ReconnectingStream

log = logging.getLogger(__name__)
MAX_HEARTBEAT_S = 5.0


class Heard(Protocol):
    """Something that knows when the venue last answered on it."""

    last_error: str

    def silent_since(self) -> float:
        """Monotonic time of the last answer (or of the start, before any)."""


@dataclass(frozen=True)
class Link:
    """One named path to the venue (``spot REST API``, ``USD-M user data stream`` …)."""

    name: str
    heard: Heard


def heartbeat_timing(bound_s: float, request_timeout_s: float) -> tuple[float, float]:
    """``(interval, timeout)`` of a heartbeat for a silence bound of ``bound_s``.

    At most :data:`MAX_HEARTBEAT_S` apart and a quarter of the bound each: the last answer
    before a freeze is at most one interval old, so a frozen link is declared silent between
    ``bound_s - interval`` and ``bound_s`` (plus one check) after it froze.
    """
    quarter = bound_s / 4
    return min(MAX_HEARTBEAT_S, quarter), min(request_timeout_s, quarter)


class RestHeartbeat:
    """``GET`` an unsigned time endpoint every ``interval_s``, each within ``timeout_s``.

    Not audited and not counted as a venue error: it only records when the venue last
    answered. While the venue has banned us (``held() > 0``) nothing is sent and the ban,
    alerted on its own, does not count as silence.
    """

    def __init__(
        self,
        url: str,
        interval_s: float,
        timeout_s: float,
        held: Callable[[], float] = lambda: 0.0,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._held = held
        self.last_ok = self.clock.monotonic()
        self.last_error = ""
        self.beats = 0

    def silent_since(self) -> float:
        """Monotonic time of the last answer (or of the start)."""
        return self.last_ok

    async def beat(self, http: aiohttp.ClientSession) -> bool:
        """One request; ``True`` when the venue answered with HTTP 200 in time."""
        if self._held() > 0:
            self.last_ok = self.clock.monotonic()
            return True
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with http.get(self.url, timeout=timeout) as resp:
                await resp.read()
                if resp.status != 200:
                    self.last_error = f"HTTP {resp.status}"
                    return False
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.last_error = f"no answer within {self.timeout_s:g}s ({type(exc).__name__})"
            return False
        self.last_ok = self.clock.monotonic()
        self.last_error = ""
        self.beats += 1
        return True

    async def run(self) -> None:
        """Beat forever (until cancelled)."""
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self.beat(http)
                except Exception as exc:  # a background loop must survive any one failure
                    self.last_error = f"heartbeat failed: {exc!r}"
                await asyncio.sleep(self.interval_s)


def rest_heartbeat(
    venue: BinanceRest, interval_s: float, timeout_s: float, clock: Clock | None = None
) -> RestHeartbeat:
    """A heartbeat on ``venue``'s server-time endpoint that pauses while ``venue`` is banned."""
    return RestHeartbeat(
        venue.config.rest_url + venue.time_path,
        interval_s,
        timeout_s,
        lambda: venue.held_for,
        clock,
    )


class VenueWatch:
    """Every ``check_s``: when any link has been silent for more than ``bound_s``, trip the
    kill switch once for the episode (its alert carries the reason; if trading was already
    halted, a venue alert says so instead); when every link answers again, alert that too.
    Trading stays halted until a person resumes it."""

    def __init__(
        self,
        links: Sequence[Link],
        bound_s: float,
        trip: Callable[[str], Awaitable[None]],
        trading: Callable[[], Awaitable[bool]],
        alert: Callable[[str], Awaitable[None]],
        check_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.links = list(links)
        self.bound_s = bound_s
        self._trip = trip
        self._trading = trading
        self._alert = alert
        self.check_s = check_s if check_s is not None else min(1.0, bound_s / 10)
        self.episode_since: float | None = None  # silence that tripped, while it lasts
        self.episodes = 0
        self.started = self.clock.monotonic()  # silence before the watch started does not count
        self.heartbeats = [
            link.heard for link in self.links if isinstance(link.heard, RestHeartbeat)
        ]

    @classmethod
    def of_markets(
        cls,
        markets: Sequence[tuple[str, BinanceRest, ReconnectingStream]],
        bound_s: float,
        request_timeout_s: float,
        trip: Callable[[str], Awaitable[None]],
        trading: Callable[[], Awaitable[bool]],
        alert: Callable[[str], Awaitable[None]],
        clock: Clock | None = None,
    ) -> VenueWatch:
        """Watch the REST API (a :func:`rest_heartbeat`) and the user stream (its pings) of
        each ``(label, venue, stream)``, every heartbeat timed by :func:`heartbeat_timing`."""
        beat, timeout = heartbeat_timing(bound_s, request_timeout_s)
        links: list[Link] = []
        for label, venue, stream in markets:
            stream.set_heartbeat(beat, timeout)
            links.append(Link(f"{label} REST API", rest_heartbeat(venue, beat, timeout, clock)))
            links.append(Link(f"{label} user data stream", stream))
        return cls(links, bound_s, trip, trading, alert, clock=clock)

    def ages(self) -> list[tuple[Link, float]]:
        """Seconds since each link last answered (counted from the watch's start at most)."""
        now = self.clock.monotonic()
        return [(link, now - max(link.heard.silent_since(), self.started)) for link in self.links]

    def silent(self) -> list[tuple[Link, float]]:
        """Links silent longer than the bound, with their seconds of silence."""
        return [(link, age) for link, age in self.ages() if age > self.bound_s]

    async def check(self) -> bool:
        """One look; ``True`` when it opened a new episode (tripped)."""
        silent = self.silent()
        if silent and self.episode_since is None:
            reason = self.reason(silent)
            log.error("venue silent: %s", reason)
            if await self._trading():
                await self._trip(reason)
            else:
                await self._alert(f"🚨 {reason} (trading was already halted)")
            self.episode_since = self.clock.monotonic() - max(age for _, age in silent)
            self.episodes += 1
            return True
        if not silent and self.episode_since is not None:
            down = self.clock.monotonic() - self.episode_since
            after = (
                "Trading is on."
                if await self._trading()
                else "Trading stays halted until someone resumes it (/resume)."
            )
            await self._alert(f"✅ Venue answering again after {down:.0f}s of silence. {after}")
            self.episode_since = None
        return False

    def reason(self, silent: Sequence[tuple[Link, float]]) -> str:
        """``venue not answering: spot REST API silent for 31s (…) · …`` (the kill reason)."""
        parts = [
            f"{link.name} silent for {age:.0f}s"
            + (f" (last error: {link.heard.last_error})" if link.heard.last_error else "")
            for link, age in silent
        ]
        limit = f"limit guards.user_stream_down_s = {self.bound_s:g}s"
        return f"venue not answering: {' · '.join(parts)} ({limit})"

    async def run(self) -> None:
        """Run the REST heartbeats and check forever (until cancelled)."""
        self.started = self.clock.monotonic()
        await asyncio.gather(self._watch(), *(h.run() for h in self.heartbeats))

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as exc:  # a background loop must survive any one failure
                log.error("venue liveness check failed: %r", exc)
            await asyncio.sleep(self.check_s)

    def state(self) -> dict[str, Any]:
        """What ``GET /v1/state`` shows: seconds since each link last answered."""
        return {
            "bound_s": self.bound_s,
            "silent_s": {link.name: round(age, 1) for link, age in self.ages()},
            "episodes": self.episodes,
            "silent_now": self.episode_since is not None,
        }
