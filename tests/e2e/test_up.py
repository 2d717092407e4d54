"""``greenlight up`` as a person runs it: a decision appears in the console with its chart,
``approve N`` typed on standard input reaches the exchange, SIGTERM stops everything, a
process that dies takes the system down instead of being restarted silently, and a SIGKILLed
``up`` takes its children with it (ports free for the next ``up``)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from greenlight.procs import free_port
from tests.e2e.system_support import PLUMBING
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
METRICS = ("ENGINE", "BOT", "ROUTER", "SIM")


class Up:
    """A running ``greenlight up`` with its output collected line by line."""

    def __init__(self, db_url: str, tmp: Path, extra: dict[str, str] | None = None) -> None:
        env = dict(os.environ)
        self.ports = (free_port(), free_port())
        env.update(
            {
                "GREENLIGHT_DATABASE_URL": db_url,
                "GREENLIGHT_SIM_PORT": str(self.ports[0]),
                "GREENLIGHT_ROUTER_PORT": str(self.ports[1]),
                "GREENLIGHT_SIM_CANDLES_PER_SECOND": "40",
                "GREENLIGHT_BOT_CHART_DIR": str(tmp / "charts"),
                **{f"GREENLIGHT_METRICS_{p}_PORT": str(free_port()) for p in METRICS},
                **PLUMBING,  # a decision soon: the starter rule, costs not weighed
                **(extra or {}),
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "greenlight.cli", "up"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


@pytest.fixture
def up(db_url: str, tmp_path: Path) -> Iterator[Up]:
    u = Up(db_url, tmp_path)
    yield u
    if u.proc.poll() is None:
        u.proc.kill()
        u.proc.wait(10)


def test_console_approval_and_clean_stop(up: Up) -> None:
    wait_until(lambda: "Greenlight is up." in up.text(), 90, "the banner")
    assert "MODE      📄 PAPER — simulated venue, no real money" in up.text()
    children = psutil.Process(up.proc.pid).children()
    assert len(children) == 4  # sim, router, engine, bot
    m = wait_until(lambda: re.search(r"Type: approve (\d+)", up.text()), 180, "a decision")
    chart = re.search(r"Chart: (\S+\.png)", up.text())
    assert chart and Path(chart.group(1)).read_bytes().startswith(b"\x89PNG")
    up.type(f"approve {m.group(1)}")
    # The router either enters, or refuses because the replay moved past the approved band.
    done = rf"#D-{m.group(1)} approved (and sent|but the entry failed: market moved)"
    wait_until(lambda: re.search(done, up.text()), 30, "the approval reaching the router")
    up.type("status")
    wait_until(lambda: "Trading: ON" in up.text(), 15, "status")
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(60) == 0
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_a_dead_process_stops_the_system(up: Up) -> None:
    wait_until(lambda: "Greenlight is up." in up.text(), 90, "the banner")
    children = psutil.Process(up.proc.pid).children()
    engine = next(c for c in children if "engine" in c.cmdline())
    engine.kill()
    assert up.proc.wait(60) == 1
    assert "engine exited" in up.text()
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def gone(p: psutil.Process) -> bool:
    """Not running any more (an orphan left unreaped as a zombie counts as gone)."""
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def port_free(port: int) -> bool:
    """The next ``up`` could listen on ``port`` (servers bind with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_sigkill_of_up_takes_every_child_with_it(up: Up) -> None:
    wait_until(lambda: "Greenlight is up." in up.text(), 90, "the banner")
    children = psutil.Process(up.proc.pid).children()
    assert len(children) == 4  # sim, router, engine, bot
    assert not any(port_free(p) for p in up.ports)  # sim and router listen
    up.proc.send_signal(signal.SIGKILL)
    up.proc.wait(10)
    wait_until(lambda: all(gone(c) for c in children), 30, "every child to stop")
    wait_until(lambda: all(port_free(p) for p in up.ports), 10, "the sim and router ports")


def test_up_with_the_paper_venue_follows_a_market_and_keeps_its_records_apart(
    db_url: str, tmp_path: Path
) -> None:
    """``venue.name = "paper"``: ``up`` starts the paper venue (here on a simulator playing
    the real exchange) in place of the simulator and migrates the paper schema first."""
    source_port, paper_port = free_port(), free_port()
    env = dict(os.environ) | {
        "GREENLIGHT_SIM_PORT": str(source_port),
        "GREENLIGHT_METRICS_SIM_PORT": "0",
    }
    source = subprocess.Popen(
        [sys.executable, "-m", "greenlight.cli", "sim", "--markets", "spot"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    up = None
    try:
        wait_until(lambda: not port_free(source_port), 60, "the source simulator")
        paper = {
            "GREENLIGHT_VENUE_NAME": "paper",
            "GREENLIGHT_VENUE_PAPER_PORT": str(paper_port),
            "GREENLIGHT_VENUE_PAPER_MARKET_URL": f"http://127.0.0.1:{source_port}",
            "GREENLIGHT_METRICS_PAPER_PORT": str(free_port()),
        }
        up = Up(db_url, tmp_path, paper)
        wait_until(lambda: "Greenlight is up." in up.text(), 120, "the banner")
        text = up.text()
        assert "MODE      📄 PAPER — simulated venue, no real money" in text
        assert f"venue     paper · http://127.0.0.1:{paper_port}" in text
        assert f"live data from http://127.0.0.1:{source_port} (public endpoints only" in text
        assert "records   database schema 'paper'" in text
        children = psutil.Process(up.proc.pid).children()
        assert len(children) == 4  # paper, router, engine, bot
        assert any("paper" in c.cmdline() for c in children)
        assert not port_free(paper_port)
        wait_until(lambda: _paper_candles(db_url) > 0, 120, "candles in the paper schema")
        up.proc.send_signal(signal.SIGTERM)
        assert up.proc.wait(60) == 0
        assert _count(db_url, "SELECT count(*) FROM public.candles") == 0
    finally:
        if up is not None and up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait(10)
        source.terminate()
        source.wait(30)


def _count(db_url: str, sql: str) -> int:
    async def read() -> int:
        conn = await asyncpg.connect(db_url)
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(read())


def _paper_candles(db_url: str) -> int:
    if not _count(db_url, "SELECT count(*) FROM pg_namespace WHERE nspname = 'paper'"):
        return 0
    return _count(db_url, "SELECT count(*) FROM paper.candles")
