"""Venue liveness: the watch trips the kill switch once per silence and alerts (real database),
and the REST heartbeat notices a venue that accepts connections but never answers (a real
HTTP server whose handling can be frozen). The frozen simulator process is in
``tests/e2e/test_frozen_venue.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D

import aiohttp
import asyncpg
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from router import store
from router.killswitch import KillSwitch
from router.venue_watch import Link, RestHeartbeat, VenueWatch, heartbeat_timing
from tests.fakes.router import spot_core
from tests.fakes.venues import FakeSpot, btcusdt_rules


@dataclass
class Heard:
    """A link whose last answer the test sets."""

    last: float
    last_error: str = ""

    def silent_since(self) -> float:
        return self.last


async def alerts(pool: asyncpg.Pool, kind: str) -> list[str]:
    return [
        r["text"]
        for r in await pool.fetch("SELECT text FROM alerts WHERE kind = $1 ORDER BY id", kind)
    ]


def watch_over(
    pool: asyncpg.Pool, links: list[Link], bound_s: float
) -> tuple[VenueWatch, KillSwitch]:
    fake = FakeSpot(btcusdt_rules(), D("60250"))
    core = spot_core(pool, fake)
    kill = KillSwitch(core)

    async def trading() -> bool:
        async with pool.acquire() as conn:
            return await store.trading_enabled(conn)

    async def alert(text: str) -> None:
        await core.alert("venue", text, None)

    watch = VenueWatch(links, bound_s, kill.trip, trading, alert)
    watch.started = time.monotonic() - 3600  # as if watching for an hour
    return watch, kill


async def test_silence_beyond_the_bound_trips_once_and_recovery_is_told(
    pool: asyncpg.Pool,
) -> None:
    now = time.monotonic()
    rest, stream = Heard(now), Heard(now)
    links = [Link("spot REST API", rest), Link("spot user data stream", stream)]
    watch, kill = watch_over(pool, links, 30)
    assert not await watch.check()  # all answering
    rest.last = time.monotonic() - 5
    assert not await watch.check()  # quiet, but within the bound

    rest.last, rest.last_error = time.monotonic() - 31, "no answer within 5s (TimeoutError)"
    assert await watch.check()
    [kill_text] = await alerts(pool, "kill")
    assert (
        "venue not answering: spot REST API silent for 31s (last error: no answer within 5s"
        in kill_text
        and "guards.user_stream_down_s = 30s" in kill_text
    )
    assert await pool.fetchval("SELECT value FROM control WHERE key = 'trading_enabled'") is False
    stream.last = time.monotonic() - 40
    assert not await watch.check()  # the same silence: no second trip
    assert len(await alerts(pool, "kill")) == 1

    rest.last = stream.last = time.monotonic()
    assert not await watch.check()
    [back] = await alerts(pool, "venue")
    assert back.startswith("✅ Venue answering again after 31s of silence")
    assert "Trading stays halted until someone resumes it" in back

    await kill.resume("ops")
    stream.last = time.monotonic() - 31  # a new silence trips again
    assert await watch.check()
    assert len(await alerts(pool, "kill")) == 2
    assert watch.state()["episodes"] == 2 and watch.state()["silent_now"] is True


async def test_silence_while_already_halted_is_still_alerted(pool: asyncpg.Pool) -> None:
    stream = Heard(time.monotonic())
    watch, kill = watch_over(pool, [Link("USD-M user data stream", stream)], 10)
    await kill.kill(False, "alice")
    stream.last = time.monotonic() - 11
    assert await watch.check()
    [text] = await alerts(pool, "venue")
    assert text.startswith("🚨 venue not answering: USD-M user data stream silent for 11s")
    assert text.endswith("(trading was already halted)")


async def test_silence_before_the_watch_started_does_not_count(pool: asyncpg.Pool) -> None:
    rest = Heard(time.monotonic() - 100)  # e.g. a slow router start
    watch, _ = watch_over(pool, [Link("spot REST API", rest)], 30)
    watch.started = time.monotonic()
    assert not await watch.check()


def test_heartbeats_fit_well_inside_the_bound() -> None:
    assert heartbeat_timing(30, 5) == (5.0, 5.0)
    assert heartbeat_timing(30, 2) == (5.0, 2.0)
    assert heartbeat_timing(4, 5) == (1.0, 1.0)


@dataclass
class Freezable:
    """A venue's time endpoint that stops answering (connections still accepted) on demand."""

    server: TestServer
    running: asyncio.Event

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/v3/time"))


@pytest_asyncio.fixture
async def venue() -> AsyncIterator[Freezable]:
    running = asyncio.Event()
    running.set()

    async def server_time(_: web.Request) -> web.Response:
        await running.wait()
        return web.json_response({"serverTime": int(time.time() * 1000)})

    app = web.Application()
    app.router.add_get("/api/v3/time", server_time)
    server = TestServer(app)
    await server.start_server()
    yield Freezable(server, running)
    running.set()
    await server.close()


async def test_rest_heartbeat_notices_a_venue_that_never_answers(venue: Freezable) -> None:
    held = 0.0
    beat = RestHeartbeat(venue.url, interval_s=0.1, timeout_s=0.3, held=lambda: held)
    async with aiohttp.ClientSession() as http:
        assert await beat.beat(http) and beat.last_error == ""
        answered = beat.silent_since()
        venue.running.clear()  # frozen: the connection is accepted, no answer comes
        started = time.monotonic()
        assert not await beat.beat(http)
        assert time.monotonic() - started < 2
        assert beat.silent_since() == answered
        assert beat.last_error == "no answer within 0.3s (TimeoutError)"
        held = 5.0  # banned: nothing is sent, and a ban is not silence
        assert await beat.beat(http) and beat.silent_since() > answered
        held = 0.0
        venue.running.set()
        assert await beat.beat(http) and beat.last_error == ""
