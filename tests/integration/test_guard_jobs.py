"""The guards' scheduler jobs against the simulator and a real database: funding polled from
``premiumIndex`` onto the venue's clock, the futures clock shift, a refused calendar alerted
with the previous one kept, ended bypasses turned back on — and the jobs running on the
scheduler."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import aiohttp
import asyncpg

from engine.guards.hub import GuardHub
from engine.guards.jobs import (
    FundingSource,
    GuardJobs,
    refresh_funding,
    register_refresher,
    venue_clock_shift,
)
from greenlight.core.settings import Settings
from greenlight.core.settings_decision import FundingSettings, NewsSettings
from sim.server import SimConfig
from tests.conftest import DATA
from tests.helpers import eventually
from tests.integration.sim_support import running_sim

HOUR = 3_600_000


def futures_config() -> SimConfig:
    return SimConfig(
        files={"BTCUSDT": DATA / "BTCUSDT-15m-2019-2020.csv.gz"},
        start_paused=True,
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
        mark_files={"XRPUSDT": DATA / "XRPUSDT-perp-1h-mark.csv"},
        funding_files={"XRPUSDT": DATA / "XRPUSDT-perp-8h-funding_rate.csv"},
    )


async def test_funding_comes_from_premium_index_on_the_venue_clock() -> None:
    async with running_sim(futures_config()) as sim:
        assert sim.state is not None and sim.state.futures is not None
        replay = sim.state.futures.replay
        hub = GuardHub(Settings())
        source = FundingSource("sim-usdm", sim.base_url, ("XRPUSDT", "NOPEUSDT"))
        async with aiohttp.ClientSession() as http:
            assert await refresh_funding(http, hub, source) == 1
            shift = await venue_clock_shift(http, "sim", sim.base_url, futures=True)
            # the pipeline asks again for one symbol right before judging a decision
            register_refresher(http, hub, source)
            hub.funding_book("sim-usdm").info.clear()
            await hub.fresh_funding("sim-usdm", "XRPUSDT")
            await hub.fresh_funding("sim", "BTCUSDT")  # spot: nothing to ask
        assert shift == replay.shift_ms
        book = hub.funding_book("sim-usdm")
        info = book.info["XRPUSDT"]
        now = replay.now_ms
        assert info.anchor_ms % (8 * HOUR) == 0 and now < info.anchor_ms <= now + 8 * HOUR
        assert info.rates[info.anchor_ms] == D("0.0001")
        assert book.verdict("XRPUSDT", info.anchor_ms).blocking
        assert not book.verdict("XRPUSDT", info.anchor_ms - HOUR, "long").blocking


async def test_jobs_reload_the_calendar_and_end_bypasses(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    path = tmp_path / "cal.csv"
    path.write_text(
        "start,end,severity,scope,title\n2019-01-30T19:00:00Z,2019-01-30T19:00:00Z,HIGH,ALL,x\n"
    )
    settings = Settings(
        news=NewsSettings(calendar_file=str(path), reload_interval_s=1),
        funding=FundingSettings(refresh_interval_s=1),
    )
    hub = GuardHub(settings)
    async with aiohttp.ClientSession() as http:
        jobs = GuardJobs(hub, pool, http, [])
        await pool.execute(
            "UPDATE guard_toggles SET bypass_until = now() + interval '1 s' WHERE name = 'news'"
        )
        jobs.start()
        try:
            await eventually(lambda: _true(len(hub.news.events) == 1), 10, "the calendar")
            path.write_text(path.read_text() + "2019-02-30T00:00:00Z,x,HIGH,ALL,y\n")
            alerts = "SELECT text FROM alerts ORDER BY id"

            async def has(needle: str) -> bool:
                return any(needle in r["text"] for r in await pool.fetch(alerts))

            await eventually(lambda: has("news calendar refused: cal.csv:3:"), 10, "refusal")
            assert len(hub.news.events) == 1  # the previous calendar stays in force
            await eventually(lambda: has("News guard back ON"), 20, "the bypass's end")
        finally:
            jobs.stop()
    assert not jobs.scheduler.running


async def _true(v: bool) -> bool:
    return v
