"""pytest plugin (registered by ``tests/conftest.py``): guard the test session and the Python
processes it starts to loopback, and fail the test during which anything tried to get out.

In the pytest process the guard reports to memory. Child processes get this folder first on
``PYTHONPATH``, so Python imports ``sitecustomize`` from it at start-up, before any product
code; it installs the same guard reporting to a log file named by ``GL_NETGUARD_LOG`` (a name
outside ``GREENLIGHT_*``: tests that strip the product's variables keep it). The autouse
fixture reads both after every test, so a refusal fails the test even when the code under
test caught the error.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netguard import loopback_only

HERE = Path(__file__).resolve().parent
VIOLATIONS = pytest.StashKey["Violations"]()


class Violations:
    """Refused attempts not yet attributed to a test: this process's and its children's."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._offset = 0
        self._local: list[str] = []
        self._lock = threading.Lock()

    def record(self, message: str) -> None:
        """Sink of the in-process guard."""
        with self._lock:
            self._local.append(message)

    def drain(self) -> list[str]:
        """Every attempt refused since the last call, here or in a child process."""
        with self._lock:
            local, self._local = self._local, []
            try:
                with self.log.open("rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            end = data.rfind(b"\n") + 1  # a line still being written waits for next time
            self._offset += end
        children = data[:end].decode("utf-8", "replace").splitlines()
        return local + children


def _prepend_path(entry: str, current: str | None) -> str:
    parts = [p for p in (current or "").split(os.pathsep) if p and p != entry]
    return os.pathsep.join([entry, *parts])


def pytest_configure(config: pytest.Config) -> None:
    """Install the guard here and arrange for every child process to install it too."""
    if VIOLATIONS in config.stash:
        return
    fd, path = tempfile.mkstemp(prefix="gl-netguard-", suffix=".log")
    os.close(fd)
    violations = Violations(Path(path))
    config.stash[VIOLATIONS] = violations
    loopback_only.install(violations.record)
    os.environ[loopback_only.LOG_ENV] = path
    os.environ["PYTHONPATH"] = _prepend_path(str(HERE), os.environ.get("PYTHONPATH"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the guard and its log."""
    violations = config.stash.get(VIOLATIONS, None)
    if violations is None:
        return
    loopback_only.uninstall()
    violations.log.unlink(missing_ok=True)


def _report(found: list[str], when: str) -> str:
    lines = "\n".join(f"  - {m}" for m in found)
    return f"network guard: {len(found)} attempt(s) to leave loopback {when}:\n{lines}"


@pytest.fixture
def network_violations(pytestconfig: pytest.Config) -> Violations:
    """The session's refused attempts, for a test that provokes one on purpose (it must
    :meth:`Violations.drain` them, or the guard fails it)."""
    return pytestconfig.stash[VIOLATIONS]


@pytest.fixture(autouse=True)
def network_guard(pytestconfig: pytest.Config) -> Iterator[None]:
    """Fail the test during which anything (the test, a fixture, a child process) tried to
    reach beyond loopback."""
    violations = pytestconfig.stash[VIOLATIONS]
    earlier = violations.drain()
    if earlier:
        pytest.fail(_report(earlier, "before this test (a shared fixture or a late child)"))
    yield
    found = violations.drain()
    if found:
        pytest.fail(_report(found, "during this test"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Attempts after the last test (session fixtures' teardown) fail the run."""
    violations = session.config.stash.get(VIOLATIONS, None)
    late = violations.drain() if violations is not None else []
    if late:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(_report(late, "after the last test"), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
