"""The network guard (tests/netguard/): nothing a test runs reaches beyond loopback; loopback,
``localhost`` and unix sockets work; child processes are guarded too; an attempt fails the
test even when the code under test swallowed the error."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.netguard.loopback_only import NetworkGuardError
from tests.netguard.session import Violations

REPO = Path(__file__).resolve().parents[2]
OUTSIDE_V4 = ("192.0.2.1", 9)  # TEST-NET-1: documentation only, never routed
OUTSIDE_V6 = ("2001:db8::1", 9)  # the IPv6 documentation prefix
OUTSIDE_NAME = "example.com"


def blocked(violations: Violations, attempt: Callable[[], object], target: str) -> str:
    """Run ``attempt``; it must raise :class:`NetworkGuardError` naming ``target``, and the
    guard must have recorded exactly that attempt."""
    with pytest.raises(NetworkGuardError, match="network guard") as err:
        attempt()
    recorded = violations.drain()
    assert len(recorded) == 1 and target in recorded[0] and target in str(err.value)
    assert "127.0.0.1, ::1, localhost or unix sockets" in recorded[0]
    return recorded[0]


@pytest.fixture
def listener() -> Iterator[dict[str, int]]:
    """Echo-free TCP listeners on 127.0.0.1 and ::1 (port per family)."""
    socks = []
    ports: dict[str, int] = {}
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, 0))
        s.listen(16)
        socks.append(s)
        ports[host] = int(s.getsockname()[1])
    yield ports
    for s in socks:
        s.close()


def test_connections_beyond_loopback_fail(network_violations: Violations) -> None:
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        where = blocked(network_violations, lambda: v4.connect(OUTSIDE_V4), "192.0.2.1")
        assert "test_network_guard.py" in where  # the message points at the caller
        blocked(network_violations, lambda: v4.connect_ex(OUTSIDE_V4), "192.0.2.1")
        blocked(network_violations, lambda: v6.connect(OUTSIDE_V6), "2001:db8::1")
        blocked(network_violations, lambda: udp.sendto(b"x", OUTSIDE_V4), "192.0.2.1")
    finally:
        for s in (v4, v6, udp):
            s.close()
    blocked(
        network_violations,
        lambda: socket.create_connection(OUTSIDE_V4, timeout=1),
        "192.0.2.1",
    )


def test_names_beyond_this_machine_are_not_looked_up(network_violations: Violations) -> None:
    blocked(network_violations, lambda: socket.getaddrinfo(OUTSIDE_NAME, 443), OUTSIDE_NAME)
    blocked(network_violations, lambda: socket.gethostbyname(OUTSIDE_NAME), OUTSIDE_NAME)
    blocked(network_violations, lambda: socket.gethostbyname_ex(OUTSIDE_NAME), OUTSIDE_NAME)
    blocked(network_violations, lambda: socket.gethostbyaddr("192.0.2.1"), "192.0.2.1")
    blocked(
        network_violations,
        lambda: socket.create_connection((OUTSIDE_NAME, 443), timeout=1),
        OUTSIDE_NAME,
    )
    assert socket.getaddrinfo("localhost", 80)  # local names still resolve
    assert socket.gethostbyname("localhost").startswith("127.")


async def test_asyncio_connections_beyond_loopback_fail(network_violations: Violations) -> None:
    for host, _ in (OUTSIDE_V4, OUTSIDE_V6, (OUTSIDE_NAME, 0)):
        with pytest.raises(NetworkGuardError, match=f"network guard: .*{host}"):
            await asyncio.wait_for(asyncio.open_connection(host, 443), 5)
        recorded = network_violations.drain()
        assert len(recorded) == 1 and host in recorded[0]


def test_loopback_and_unix_sockets_work(listener: dict[str, int], tmp_path: Path) -> None:
    for host, port in listener.items():
        with socket.create_connection((host, port), timeout=5) as s:
            assert s.getpeername()[1] == port
    with socket.create_connection(("localhost", listener["127.0.0.1"]), timeout=5):
        pass
    path = str(tmp_path / "u.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    with server, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(path)
        peer, _ = server.accept()
        client.sendall(b"ping")
        assert peer.recv(4) == b"ping"
        peer.close()


async def test_asyncio_loopback_works(listener: dict[str, int]) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        port = listener["::1" if host == "::1" else "127.0.0.1"]
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        writer.close()
        await writer.wait_closed()


CHILD = """
import socket, sys
try:
    socket.create_connection(("192.0.2.1", 9), timeout=1)
except Exception as exc:  # the product might swallow it like this: still reported
    print("refused:", type(exc).__name__)
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5):
    print("loopback ok")
"""


def test_child_processes_are_guarded(
    listener: dict[str, int], network_violations: Violations
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(listener["127.0.0.1"])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["refused: NetworkGuardError", "loopback ok"]
    recorded = network_violations.drain()
    assert len(recorded) == 1 and "192.0.2.1" in recorded[0]
    assert "pid " in recorded[0] and str(os.getpid()) not in recorded[0].split(" at ")[0]


SWALLOWING_TEST = """
import socket


def test_swallows_the_refusal():
    try:
        socket.create_connection(("192.0.2.1", 9), timeout=1)
    except Exception:
        pass  # the code under test caught it; the guard still fails the test
"""


def test_a_swallowed_attempt_still_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(SWALLOWING_TEST))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["-p", "tests.netguard.session", "-c", str(tmp_path / "pytest.ini")]
        + ["--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 1 error" in done.stdout
    assert "network guard: 1 attempt(s) to leave loopback during this test" in done.stdout
