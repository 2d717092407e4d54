"""A frozen venue — a real ``greenlight sim`` process stopped with SIGSTOP, its sockets still
open — halts trading within ``guards.user_stream_down_s`` with a clear reason, and its return
is announced while trading stays halted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from greenlight.core.settings import Settings
from greenlight.procs import free_port, wait_port
from router.client import RouterClient
from router.config import futures_config, venue_config
from router.service import serve_router
from tests.helpers import eventually
from tests.integration.router_support import stop_router_task, wait_router_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
REPO = Path(__file__).resolve().parents[2]
BOUND_S = 3.0  # guards.user_stream_down_s for this test
TOKEN = "frozen-venue-token"


@pytest.fixture
def sim_process() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = dict(os.environ, GREENLIGHT_MARKET_FUTURES_SYMBOLS='["XRPUSDT"]')
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenlight.cli", "sim", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port, 60, proc)
        yield proc, port
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest_asyncio.fixture
async def router(
    sim_process: tuple[subprocess.Popen[bytes], int], db_url: str
) -> AsyncIterator[Settings]:
    _, port = sim_process
    settings = Settings.model_validate(
        {
            "venue": {"name": "sim", "recv_window_ms": 1000},
            "sim": {"port": port},
            "router": {"port": free_port()},
            "market": {"symbols": ["BTCUSDT"], "futures_symbols": ["XRPUSDT"]},
            "guards": {"user_stream_down_s": BOUND_S},
        }
    )
    ready = asyncio.Event()
    task = asyncio.create_task(
        serve_router(
            settings,
            db_url,
            TOKEN,
            ready,
            venue_config(settings, {}),
            futures_config(settings, {}),
        )
    )
    await wait_router_ready(task, ready)
    try:
        yield settings
    finally:
        sim_process[0].send_signal(signal.SIGCONT)  # the router's clean stop talks to it
        await stop_router_task(task)


async def kill_alert(pool: asyncpg.Pool) -> str | None:
    text: str | None = await pool.fetchval("SELECT text FROM alerts WHERE kind = 'kill'")
    return text


async def back_alert(pool: asyncpg.Pool) -> str | None:
    text: str | None = await pool.fetchval(
        "SELECT text FROM alerts WHERE kind = 'venue' AND text LIKE '✅%'"
    )
    return text


async def trading_on(pool: asyncpg.Pool) -> bool:
    value: bool | None = await pool.fetchval(
        "SELECT value FROM control WHERE key = 'trading_enabled'"
    )
    return value is not False


async def test_a_frozen_sim_halts_trading_within_the_bound(
    sim_process: tuple[subprocess.Popen[bytes], int], router: Settings, pool: asyncpg.Pool
) -> None:
    proc, _ = sim_process
    client = RouterClient(f"http://127.0.0.1:{router.router.port}", TOKEN)

    async def streams_up() -> bool:
        state = await client.state()
        return bool(
            state["venue"]["user_stream_connected"] and state["usdm"]["user_stream_connected"]
        )

    try:
        await eventually(streams_up, 30, "both user data streams connected")
        assert await kill_alert(pool) is None and await trading_on(pool)

        proc.send_signal(signal.SIGSTOP)  # frozen: sockets open, nothing answers
        frozen_at = time.monotonic()
        text = await eventually(lambda: kill_alert(pool), BOUND_S + 15, "the kill switch")
        took = time.monotonic() - frozen_at
        assert "venue not answering:" in text and "silent for" in text, text
        assert f"guards.user_stream_down_s = {BOUND_S:g}s" in text
        assert took <= BOUND_S + 2.0, f"noticed after {took:.1f}s (bound {BOUND_S}s)"
        assert not await trading_on(pool)

        proc.send_signal(signal.SIGCONT)
        back = await eventually(lambda: back_alert(pool), 60, "the venue answering again")
        assert "Trading stays halted" in back
        assert not await trading_on(pool)
        assert await pool.fetchval("SELECT count(*) FROM alerts WHERE kind = 'kill'") == 1
        assert (await client.state())["venue_watch"]["episodes"] == 1
    finally:
        await client.close()
