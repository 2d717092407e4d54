"""``greenlight up`` as a person runs it: a decision appears in the console with its chart,
``approve N`` typed on standard input reaches the exchange, SIGTERM stops everything, a
process that dies takes the system down instead of being restarted silently, and a SIGKILLed
``up`` takes its children with it (ports free for the next ``up``)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from greenlight.procs import free_port
from tests.e2e.test_system import PLUMBING
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
METRICS = ("ENGINE", "BOT", "ROUTER", "SIM")


class Up:
    """A running ``greenlight up`` with its output collected line by line."""

    def __init__(self, db_url: str, tmp: Path) -> None:
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
