"""Every process rides out a restart of the PostgreSQL server (``pg_ctl restart -m fast``, as
``bench/chaos.py`` does) on a private embedded server: the engine applies each candle exactly
once (the tables and the saved stream state equal an uninterrupted run), the bot and the
router listen again and catch up, nothing is shown, approved or routed twice, the router's
API answers 503 while the database is down, and a fill the user stream reported meanwhile
is applied by reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any, cast

import asyncpg
import numpy as np
import pytest
import pytest_asyncio

from bot.service import serve_bot
from engine.events import Candle
from engine.pipeline import StreamProcessor
from engine.sub_pipeline import SubStreamProcessor
from engine.symbol_feed import SymbolFeed
from greenlight.core.candlefile import read_candles
from greenlight.core.contracts import Market
from greenlight.core.db_outage import ResilientListener
from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from greenlight.core.settings import (
    MarketSettings,
    RiskSettings,
    RouterSettings,
    Settings,
    SimSettings,
    StrategySettings,
    VenueSettings,
)
from greenlight.core.settings_decision import VolatilitySettings
from greenlight.core.store import EQUITY_KEYS
from router import store as router_store
from router.client import RouterClient, RouterError
from router.config import venue_config
from router.errors import OrderNotFoundError
from router.venues.binance_spot import BinanceSpot
from sim.replay.clock import shifted
from sim.replay.resample import resample
from sim.server import SimAccount, SimConfig, SimServer
from tests.conftest import DATA, free_port
from tests.fakes.chat import RecordingChannel
from tests.fakes.decisions import make_decision
from tests.helpers import eventually
from tests.integration import micro_support as micro
from tests.integration.micro_support import PARENTS, ROWS, VENUE, subs_of
from tests.integration.pg_restart import CommitLosingPool, PrivateServer
from tests.integration.spot_sim_rig import TOKEN, Rig, state_is, venue_matches_db
from tests.symbol_rules import XRPUSDT_PERP as RULES

# The micro-feed settings with costs not weighed and only SHOCK blocking: the plumbing under
# test needs decisions (the product's rule is tested by itself elsewhere).
SETTINGS = Settings(
    market=MarketSettings(futures_symbols=("XRPUSDT",), sub_timeframe="5m"),
    strategy=StrategySettings(agent="retest"),
    risk=RiskSettings(max_open_positions=100, max_cost_fraction_of_r=D(10)),
    volatility=VolatilitySettings(block=("SHOCK",)),
)

pytestmark = pytest.mark.timeout(240)

N_PARENTS = 240  # 960 transactions: signals and decisions well after the outage
TABLES = ROWS | {
    "decisions": "SELECT open_time, side, state, bracket FROM decisions ORDER BY 1",
    "candle_counts": "SELECT tf, count(*), count(DISTINCT open_time) FROM candles GROUP BY 1"
    " ORDER BY 1",
}


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    """An embedded server of this module's own: restarting it disturbs no other test."""
    from greenlight.core.db import start_embedded

    root = Path(tempfile.mkdtemp(prefix="gl-test-restart-"))
    url = start_embedded(root / "pgdata")
    server = PrivateServer(root / "pgdata", url)
    yield server
    server.shut_down()
    shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture
async def db(server: PrivateServer) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    url = await server.fresh_database()
    pool = await server.pool(url)
    yield url, pool
    await pool.close()


def venue_order(parents: list[Candle]) -> list[Candle]:
    """Each parent after its sub candles, as the venue sends them."""
    out: list[Candle] = []
    for p in parents:
        out += [*subs_of(p), p]
    return out


CANDLES = venue_order(PARENTS[:N_PARENTS])


def new_feed(pool: Any) -> SymbolFeed:
    proc = StreamProcessor(SETTINGS, VENUE, RULES, "15m", Market.USDM)
    sub = SubStreamProcessor(SETTINGS, VENUE, "XRPUSDT", "5m", "15m")
    return SymbolFeed(cast(asyncpg.Pool, pool), proc, sub, wait_s=60)


async def feed_all(feed: SymbolFeed) -> None:
    for c in CANDLES:
        await feed.handle(c, 0.0, True)


async def tables(pool: asyncpg.Pool) -> dict[str, list[tuple[object, ...]]]:
    async with pool.acquire() as conn:
        return {k: [tuple(r) for r in await conn.fetch(q)] for k, q in TABLES.items()}


async def with_equity(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO control (key, value) VALUES ($1, '10000')", EQUITY_KEYS["usdm"])


@pytest.fixture(scope="module")
def reference(server: PrivateServer) -> dict[str, list[tuple[object, ...]]]:
    """The rows of an uninterrupted run."""

    async def run() -> dict[str, list[tuple[object, ...]]]:
        pool = await server.pool(await server.fresh_database())
        try:
            await with_equity(pool)
            await feed_all(new_feed(pool))
            return await tables(pool)
        finally:
            await pool.close()

    rows = asyncio.run(run())
    # what the run must contain for the comparison to mean something: signals on both
    # intervals' stages (decisions too, where the guards let the setups through)
    assert rows["signals"], "the run makes signals"
    assert rows["candle_counts"] == [("15m", N_PARENTS, N_PARENTS), ("5m", *[3 * N_PARENTS] * 2)]
    return rows


async def test_engine_feed_applies_each_candle_once_across_a_restart(
    server: PrivateServer,
    db: tuple[str, asyncpg.Pool],
    reference: dict[str, list[tuple[object, ...]]],
) -> None:
    _, pool = db
    await with_equity(pool)
    feed = new_feed(pool)
    task = asyncio.create_task(feed_all(feed))
    third = PARENTS[N_PARENTS // 3].open_time

    async def a_third_done() -> bool:
        return (feed.parent.last_open_time or 0) >= third

    try:
        await eventually(a_third_done, 60, "a third of the candles processed")
        await server.restart()  # every session cut in the middle of the stream
        await asyncio.wait_for(task, 120)  # the feed never gave up
    finally:
        task.cancel()
    assert feed.backoff.outages >= 1, "the restart interrupted the feed"
    assert await tables(pool) == reference


@pytest.mark.parametrize("committed", [True, False], ids=["commit-done", "commit-lost"])
@pytest.mark.parametrize("lose_at", [4 * 100, 4 * 100 - 1], ids=["parent", "sub"])
async def test_engine_feed_retries_a_lost_commit_without_double_applying(
    db: tuple[str, asyncpg.Pool],
    reference: dict[str, list[tuple[object, ...]]],
    committed: bool,
    lose_at: int,
) -> None:
    """The connection is lost at COMMIT of candle ``lose_at``: whether it committed or not,
    the processors are restored from the database and the candle is applied once."""
    _, pool = db
    await with_equity(pool)
    flaky = CommitLosingPool(pool, lose_at, committed)
    feed = new_feed(flaky)
    await feed_all(feed)
    assert flaky.lost == 1 and feed.backoff.outages == 1
    assert await tables(pool) == reference


async def test_engine_process_keeps_ingesting_across_a_restart(
    server: PrivateServer, db: tuple[str, asyncpg.Pool]
) -> None:
    """The whole engine (ingest → feeds) on the simulator: the restart hits it while candles
    flow; it never stops, and every candle of both intervals is stored once, without a gap."""
    _, pool = db
    sub, parent = read_candles(micro.XRP), resample(read_candles(micro.XRP), 900_000)
    sim = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / "BTCUSDT-15m-2019-2020.csv.gz"},
            futures_files={"XRPUSDT": micro.XRP},
            sub_intervals=("5m",),
            history_candles=micro.HISTORY,
            candles_per_second=60,
            updates_per_candle=1,
            max_candles=len(parent) - micro.HISTORY,
            start_paused=True,
        )
    )
    await sim.start()
    assert sim.state is not None and sim.state.futures is not None
    shift = sim.state.futures.replay.shift_ms
    sub, parent = shifted(sub, shift), shifted(parent, shift)
    last = int(parent.open_time[-1])
    task: asyncio.Task[None] | None = None
    try:
        engine, task = await micro.start_engine(sim.port, pool)
        proc = engine.processors[("sim-usdm", "XRPUSDT")]
        sim.resume()
        middle = int(parent.open_time[micro.HISTORY + 60])
        await eventually(lambda: _true((proc.last_open_time or 0) >= middle), 60, "60 candles")
        await server.restart()
        await eventually(lambda: _true(proc.last_open_time == last or task.done()), 120, "all")
        assert not task.done(), "the engine never stopped"
        await eventually(lambda: micro.committed_through(pool, last), 60, "all committed")
    finally:
        if task is not None:
            await micro.stop_engine(task)
        await sim.stop()
    feed = engine.feeds[("sim-usdm", "XRPUSDT")]
    assert feed.backoff.outages >= 1, "the restart interrupted the feed"
    assert feed.repeats == 0
    for tf, arr in (("5m", sub.slice(0, 3 * len(parent))), ("15m", parent)):
        times = [r["open_time"] for r in await micro.stored(pool, tf)]
        first = int(np.searchsorted(arr.open_time, times[0]))
        assert times == arr.open_time[first:].tolist(), f"{tf}: every candle once, no gap"


# -- the LISTEN connection ----------------------------------------------------------------


async def listeners(pool: asyncpg.Pool, who: str) -> int:
    """Sessions named ``greenlight <who> listener`` on the pool's database."""
    n: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        " AND datname = current_database()",
        f"greenlight {who} listener",
    )
    return n


async def test_listener_listens_again_and_asks_for_a_sweep(
    server: PrivateServer, db: tuple[str, asyncpg.Pool]
) -> None:
    url, pool = db
    heard: list[str] = []
    reconnected: list[int] = []

    def on_notify(_c: object, _pid: int, _channel: str, payload: str) -> None:
        heard.append(payload)

    listener = ResilientListener(
        url, ("gl_test",), on_notify, lambda: reconnected.append(1), who="test", check_s=1
    )
    task = asyncio.create_task(listener.run())
    try:
        await eventually(lambda: listeners(pool, "test"), 10, "the listener connected")
        await pool.execute("SELECT pg_notify('gl_test', 'before')")
        await eventually(lambda: _true(heard == ["before"]), 10, "the first notification")
        await server.stop()
        await eventually(lambda: _true(not listener.connected), 10, "the loss noticed")
        await server.start()
        await eventually(lambda: listeners(pool, "test"), 30, "the listener back")
        # The session shows up before its LISTENs are registered; the owner is told after.
        await eventually(lambda: _true(bool(reconnected)), 10, "the owner told to sweep")
        assert reconnected == [1], "the owner is told once, to sweep what was missed"
        await pool.execute("SELECT pg_notify('gl_test', 'after')")
        await eventually(lambda: _true(heard == ["before", "after"]), 10, "notified again")
        assert not task.done()
    finally:
        task.cancel()
        await listener.close()


async def _true(value: bool) -> bool:
    return value


# -- the bot ------------------------------------------------------------------------------


class ClaimingRouter:
    """The router's side of a hand-over: the exactly-once claim APPROVED → ROUTED."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.claimed: list[int] = []

    async def submit_bracket(self, decision_id: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await router_store.claim_for_routing(conn, decision_id, datetime.now(UTC))
        if row is not None:
            self.claimed.append(decision_id)
        return {
            "ok": True,
            "accepted": row is not None,
            "decision": {"id": decision_id, "state": "ROUTED"},
        }

    async def kill(self, flatten: bool, by: str) -> dict[str, Any]:
        return {"trading_enabled": False}

    async def resume(self, by: str) -> dict[str, Any]:
        return {"trading_enabled": True}


async def alert(pool: asyncpg.Pool, text: str) -> None:
    async with pool.acquire() as conn:
        await router_store.alert(conn, "info", text, None)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


async def test_bot_rides_out_restarts_showing_and_approving_once(
    server: PrivateServer,
    db: tuple[str, asyncpg.Pool],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, pool = db
    channel, router = RecordingChannel("console"), ClaimingRouter(pool)
    ready = asyncio.Event()
    caplog.set_level(logging.WARNING)
    bot = asyncio.create_task(serve_bot(Settings(), url, router, [channel], True, tmp_path, ready))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        d1 = await make_decision(pool, open_time=1)
        await alert(pool, "one")
        await eventually(lambda: _true(router.claimed == [d1]), 20, "d1 shown, approved, routed")
        await eventually(lambda: _true(channel.alerts == ["one"]), 10, "alert one delivered")

        await server.restart()  # quick, as in bench/chaos.py
        await eventually(lambda: listeners(pool, "bot"), 30, "the bot listening again")
        d2 = await make_decision(pool, open_time=2)  # notified on the new connection
        await eventually(lambda: _true(router.claimed == [d1, d2]), 20, "d2 via NOTIFY")

        await server.stop()  # a longer outage: the loop keeps failing and waiting
        await eventually(lambda: _true(logged(caplog, "bot: database unavailable")), 10, "warned")
        await server.start()
        d3 = await make_decision(pool, open_time=3)  # its NOTIFY may come before the bot listens
        await alert(pool, "two")
        await eventually(lambda: _true(router.claimed == [d1, d2, d3]), 30, "d3 caught up")
        await eventually(lambda: _true(channel.alerts == ["one", "two"]), 10, "alerts caught up")
        await eventually(
            lambda: _true(logged(caplog, "bot: database available again")), 10, "recovery said"
        )

        assert not bot.done(), "the bot never exited"
        assert [c.decision_id for c in channel.confirmations] == [d1, d2, d3], "each shown once"
        accepted = await pool.fetch(
            "SELECT decision_id FROM approvals WHERE accepted ORDER BY decision_id"
        )
        assert [r["decision_id"] for r in accepted] == [d1, d2, d3], "each approved once"
    finally:
        bot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bot


# -- the router ---------------------------------------------------------------------------


@pytest_asyncio.fixture
async def rig(db: tuple[str, asyncpg.Pool]) -> AsyncIterator[Rig]:
    """The router on the simulator, its database on the private server."""
    url, pool = db
    sim = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / "BTCUSDT-15m-2019-2020.csv.gz"},
            candles_per_second=6.0,
            accounts={SIM_DEMO_API_KEY: SimAccount(SIM_DEMO_API_SECRET, {"USDT": D("10000")})},
        )
    )
    await sim.start()
    settings = Settings(
        venue=VenueSettings(name="sim", recv_window_ms=1000),
        sim=SimSettings(port=sim.port),
        router=RouterSettings(port=free_port(), reconcile_interval_s=5),
    )
    venue = BinanceSpot(venue_config(settings, {}))
    await venue.start()
    client = RouterClient(f"http://127.0.0.1:{settings.router.port}", TOKEN)
    r = Rig(sim, settings, url, pool, venue, client)
    await r.start_router()
    yield r
    if r.task is not None and not r.task.done():
        await r.stop_router()
    await client.close()
    await venue.close()
    await sim.stop()


async def test_router_answers_503_then_catches_up_on_fills_and_approvals(
    server: PrivateServer, rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rig.sim.pause()  # the market holds still until the bracket is protected
    d1 = await rig.bracket_around("0.0015", ("0.001", "0.002"))
    await rig.client.submit_bracket(d1)
    legs = ("SL1", "SL2")

    async def protected() -> bool:
        try:
            for leg in legs:
                await rig.venue.query_order("BTCUSDT", f"gl-{d1}-{leg}")
        except OrderNotFoundError:
            return False
        return True

    await eventually(protected, 20, "both OCOs resting on the venue")

    await server.stop()
    for call in (rig.client.state(), rig.client.submit_bracket(d1)):
        with pytest.raises(RouterError) as refused:
            await call
        assert refused.value.status == 503 and "database unavailable" in refused.value.reason
    rig.sim.resume()  # the bracket runs out on the venue while the database is down

    async def venue_done() -> bool:
        reports = [await rig.venue.query_order("BTCUSDT", f"gl-{d1}-{leg}") for leg in legs]
        return all(r.status in ("FILLED", "EXPIRED") for r in reports)

    await eventually(venue_done, 90, "both OCOs done on the venue")
    await eventually(
        lambda: _true(logged(caplog, "not applied, database unavailable")), 10, "said so"
    )
    await server.start()
    await eventually(lambda: state_is(rig, d1, "CLOSED"), 30, "the fills applied")
    await eventually(lambda: venue_matches_db(rig), 10, "venue balance == DB position")

    await eventually(lambda: listeners(rig.pool, "router"), 30, "the router listening again")
    d2 = await rig.bracket_around("0.05", ("0.05",))
    await rig.pool.execute("SELECT pg_notify('gl_approved', $1)", str(d2))
    await eventually(lambda: state_is(rig, d2, "OPEN"), 20, "d2 routed from NOTIFY")

    assert rig.task is not None and not rig.task.done(), "the router never exited"
    ids = [o.client_order_id for o in await rig.venue.all_orders("BTCUSDT")]
    assert len(ids) == len(set(ids)), "no client order id sent twice"
    assert sum(i.endswith("-E") for i in ids) == 2
    state = await rig.client.state()
    assert state["ok"] and state["trading_enabled"], "no kill switch trip"
