"""A child bound to its supervisor stops cleanly when the supervisor is SIGKILLed: through the
parent-death signal alone, through the pid watchdog alone, and never starts orphaned.

Real processes: a small supervisor script starts one child and is then killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from greenlight.lifeline import SUPERVISOR_ENV, SupervisorGone, bind_to_supervisor
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, sys
from pathlib import Path
from greenlight.lifeline import bind_to_supervisor
bind_to_supervisor(death_signal={death_signal}, interval_s={interval_s}, grace_s=20)
from greenlight.core.runtime import run_until_signalled

async def main() -> None:
    Path(sys.argv[1] + ".ready").write_text("ready")
    await asyncio.Event().wait()

run_until_signalled(main)
Path(sys.argv[1]).write_text("stopped cleanly")
"""

SUPERVISOR = """
import subprocess, sys, time
from greenlight.lifeline import supervised_env
import os
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]],
                         env=supervised_env(os.environ))
print(child.pid, flush=True)
while True:
    time.sleep(1)
"""


def gone(pid: int) -> bool:
    """The process no longer runs (an unreaped zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def orphan_after_sigkill(tmp_path: Path, death_signal: bool, interval_s: float) -> Path:
    """Start supervisor → child, SIGKILL the supervisor, wait until the child is gone."""
    marker = tmp_path / "child"
    code = CHILD.format(death_signal=death_signal, interval_s=interval_s)
    sup = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, code, str(marker)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sup.stdout is not None
        child = int(sup.stdout.readline())
        wait_until(lambda: marker.with_suffix(".ready").exists(), 30, "the child running")
        assert not marker.exists()
        sup.send_signal(signal.SIGKILL)
        sup.wait(10)
        wait_until(lambda: gone(child), 15, f"child {child} to stop after its supervisor died")
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
    return marker


def test_parent_death_signal_alone_stops_the_child_cleanly(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    marker = orphan_after_sigkill(tmp_path, death_signal=True, interval_s=3600)
    wait_until(marker.exists, 5, "the child's clean-stop mark")
    assert marker.read_text() == "stopped cleanly"


def test_watchdog_alone_stops_the_child_cleanly(tmp_path: Path) -> None:
    marker = orphan_after_sigkill(tmp_path, death_signal=False, interval_s=0.05)
    wait_until(marker.exists, 5, "the child's clean-stop mark")
    assert marker.read_text() == "stopped cleanly"


def test_a_child_whose_supervisor_is_already_gone_does_not_start() -> None:
    env = {SUPERVISOR_ENV: str(os.getpid()), "OTHER": "x"}  # we are not our own parent
    with pytest.raises(SupervisorGone, match=f"supervisor \\(pid {os.getpid()}\\) is gone"):
        bind_to_supervisor(env, death_signal=False)
    assert env == {"OTHER": "x"}, "the mark is never passed on to our own children"
    assert bind_to_supervisor({}, death_signal=False) is None  # not supervised: nothing to do
