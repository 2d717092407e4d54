"""Children die with their supervisor (``greenlight up`` or ``demo``), even a SIGKILLed one.

:class:`greenlight.procs.ProcessGroup` marks each child's environment with the supervisor's
pid; the child arms two independent mechanisms at start (:func:`bind_to_supervisor`):

- ``PR_SET_PDEATHSIG`` (Linux, through ``prctl``): the kernel sends the child SIGTERM the
  moment the supervisor thread that started it dies;
- a watchdog thread that checks every :data:`WATCH_INTERVAL_S` whether the child has been
  re-parented (``os.getppid()`` no longer the supervisor). It then sends the child SIGTERM,
  which every Greenlight process answers with its clean stop, and ends the process outright
  if it is still there :data:`GRACE_S` later.

So nothing keeps running unsupervised, and the next ``up`` finds its ports free.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping

SUPERVISOR_ENV = "GREENLIGHT_SUPERVISOR_PID"
WATCH_INTERVAL_S = 0.5
GRACE_S = 15.0
ORPHAN_EXIT_CODE = 3
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def supervised_env(env: Mapping[str, str], pid: int | None = None) -> dict[str, str]:
    """``env`` plus the mark that binds a child started with it to ``pid`` (default: us)."""
    return {**env, SUPERVISOR_ENV: str(os.getpid() if pid is None else pid)}


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``sig`` when our parent dies; ``False`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class SupervisorGone(SystemExit):
    """The supervisor died before this child could bind to it: the child must not start."""


class Watchdog(threading.Thread):
    """Stops this process cleanly once ``parent`` is no longer its parent (see module doc)."""

    def __init__(
        self, parent: int, interval_s: float = WATCH_INTERVAL_S, grace_s: float = GRACE_S
    ) -> None:
        super().__init__(name="supervisor-watchdog", daemon=True)
        self.parent = parent
        self.interval_s = interval_s
        self.grace_s = grace_s

    def run(self) -> None:
        """Poll the parent pid; on orphaning SIGTERM ourselves, then force the exit."""
        while os.getppid() == self.parent:
            time.sleep(self.interval_s)
        _say(f"supervisor (pid {self.parent}) is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(self.grace_s)
        _say(f"still running {self.grace_s:.0f}s after the supervisor died; exiting now")
        os._exit(ORPHAN_EXIT_CODE)


def bind_to_supervisor(
    environ: MutableMapping[str, str] | None = None,
    death_signal: bool = True,
    interval_s: float = WATCH_INTERVAL_S,
    grace_s: float = GRACE_S,
) -> Watchdog | None:
    """Tie this process's life to the supervisor named in ``environ`` (default ``os.environ``).

    Returns the started watchdog, or ``None`` when no supervisor started us. The mark is
    removed from the environment so that our own children are not bound to the wrong pid.
    Raises :class:`SupervisorGone` when the supervisor is already dead.
    """
    env = os.environ if environ is None else environ
    raw = env.pop(SUPERVISOR_ENV, "")
    if not raw.strip().isdigit():
        return None
    parent = int(raw)
    gone = SupervisorGone(f"greenlight: supervisor (pid {parent}) is gone; not starting")
    if os.getppid() != parent:
        raise gone
    if death_signal:
        set_parent_death_signal()
        if os.getppid() != parent:  # it died between the check and the prctl
            raise gone
    watchdog = Watchdog(parent, interval_s, grace_s)
    watchdog.start()
    return watchdog


def _say(text: str) -> None:
    print(f"greenlight[{os.getpid()}]: {text}", file=sys.stderr, flush=True)
