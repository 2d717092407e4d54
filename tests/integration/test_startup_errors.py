"""Start-up problems end in one clear line naming what to change, or are waited for:
a busy port, an unreachable database, a venue or chat service that is not up yet."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channel_start import start_channels
from bot.telegram import TelegramChannel
from greenlight.core.startup import port_problem, retry_with_backoff
from greenlight.procs import free_port
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import eventually, wait_until

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "greenlight.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_up_with_a_busy_sim_port_names_the_setting(busy_port: int, db_url: str) -> None:
    env = {
        "GREENLIGHT_DATABASE_URL": db_url,
        "GREENLIGHT_SIM_PORT": str(busy_port),
        "GREENLIGHT_ROUTER_PORT": str(free_port()),
    }
    code, out = _run(["up"], env)
    assert code == 2, out
    assert f"port {busy_port} on 127.0.0.1 is already in use (sim.port)" in out
    assert "GREENLIGHT_SIM_PORT=<port>" in out
    assert "Greenlight is up." not in out and "Traceback" not in out


def test_sim_on_a_busy_port_names_the_setting(busy_port: int) -> None:
    code, out = _run(["sim", "--port", str(busy_port)], {})
    assert code == 2, out
    assert "(sim.port)" in out and "Traceback" not in out


def test_port_problem_is_none_for_a_free_port() -> None:
    assert port_problem("127.0.0.1", free_port(), "router.port") is None


def test_unreachable_database_names_host_port_and_what_to_check() -> None:
    port = free_port()
    env = {"GREENLIGHT_DATABASE_URL": f"postgresql://gl:s3cretpw@127.0.0.1:{port}/greenlight"}
    code, out = _run(["engine"], env)
    assert code == 2, out
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}, database 'greenlight'" in out
    assert "pg_isready" in out and "GREENLIGHT_DATABASE_URL" in out
    assert "Traceback" not in out and "s3cretpw" not in out


def test_engine_waits_for_a_venue_that_is_not_up(db_url: str) -> None:
    port = free_port()
    env = {**os.environ, "GREENLIGHT_DATABASE_URL": db_url, "GREENLIGHT_SIM_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenlight.cli", "engine"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        lines.extend(proc.stderr)

    threading.Thread(target=read, daemon=True).start()
    try:
        what = f"venue sim at http://127.0.0.1:{port} not reachable"
        wait_until(lambda: sum(what in x for x in lines) >= 2, 60, "two retry lines")
        assert proc.poll() is None  # still waiting, not exited
        assert "retry 2 in 2 s" in "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    assert "Traceback" not in "".join(lines)


async def test_telegram_unreachable_at_start_is_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    api = FakeTelegramApi(chats=[1001])
    chan = TelegramChannel(
        api.token, f"http://127.0.0.1:{port}/bot", [1001], poll_timeout=1, backoff=0.01
    )

    class Inbound:
        async def on_tap(self, channel: str, user_id: str, token: str) -> object:
            raise AssertionError("no taps expected")

        async def on_command(self, *args: object) -> object:
            raise AssertionError("no commands expected")

    caplog.set_level(logging.WARNING, logger="greenlight.core.startup")
    task = asyncio.create_task(start_channels([chan], Inbound(), first_delay_s=0.05))  # type: ignore[list-item]

    async def retried() -> bool:
        return any("chat channel telegram not reachable" in r.getMessage() for r in caplog.records)

    await eventually(retried, 20, "a retry line")
    assert not task.done()
    await api.start(port)
    try:
        await asyncio.wait_for(task, 30)
        await eventually(lambda: _async(bool(api.calls_of("getUpdates"))), 20, "polling")
    finally:
        await chan.stop()
        await api.stop()


async def _async(value: bool) -> bool:
    return value


async def test_retry_with_backoff_bounded_attempts_propagate() -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        await retry_with_backoff("x", failing, (OSError,), "", first_delay_s=0.0, attempts=3)
    assert calls == 3
