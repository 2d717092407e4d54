"""Start Greenlight's processes as real OS processes and stop them cleanly.

Nothing is restarted silently: if one process dies, the group reports it and the caller
decides (``up`` and ``demo`` stop everything). Nothing outlives the group either: each child
binds itself to this process at start and stops when it dies, even by SIGKILL
(:mod:`greenlight.lifeline`).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from greenlight.lifeline import supervised_env


def wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    """Block until ``host:port`` accepts connections; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def router_token(env: Mapping[str, str]) -> str:
    """The configured router token, or a fresh random one for this run."""
    return env.get("GREENLIGHT_ROUTER_TOKEN") or secrets.token_urlsafe(32)


@dataclass
class ProcessGroup:
    """Children started with ``python -m greenlight.cli <command>``.

    Call :meth:`start` from a thread that outlives the children (normally the main thread):
    Linux delivers the parent-death signal when the *thread* that started a child ends.
    """

    env: dict[str, str]
    settings_path: str | None = None
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    launched: dict[str, tuple[tuple[str, ...], Any, Any]] = field(default_factory=dict)

    def start(
        self,
        name: str,
        *args: str,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``greenlight <args>`` (default: ``greenlight <name>``) as a child process that
        dies with this one."""
        cmd = [sys.executable, "-m", "greenlight.cli"]
        if self.settings_path:
            cmd += ["--settings", self.settings_path]
        cmd += list(args or (name,))
        proc = subprocess.Popen(
            cmd, env=supervised_env(self.env), stdin=stdin, stdout=stdout, start_new_session=True
        )
        self.procs.append((name, proc))
        self.launched[name] = (args, stdin, stdout)
        return proc

    def kill_and_restart(self, name: str) -> subprocess.Popen[bytes]:
        """SIGKILL the child ``name`` (no chance to clean up: a crash), wait for it to be
        gone, and start it again with the same command line and output."""
        for i, (n, p) in enumerate(self.procs):
            if n == name:
                if p.poll() is None:
                    p.kill()
                p.wait()
                del self.procs[i]
                break
        args, stdin, stdout = self.launched[name]
        return self.start(name, *args, stdin=stdin, stdout=stdout)

    def dead(self) -> list[tuple[str, int]]:
        """Children that have exited, with their exit codes."""
        return [(n, p.returncode) for n, p in self.procs if p.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        """Stop the children newest first, each gone before the next is signalled (so the
        simulator and the database outlive their clients' shutdown): SIGTERM, then SIGKILL
        after ``grace`` seconds."""
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def child_env(db_url: str, token: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: the database URL and router token are shared."""
    env = dict(os.environ)
    env["GREENLIGHT_DATABASE_URL"] = db_url
    env["GREENLIGHT_ROUTER_TOKEN"] = token
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env
