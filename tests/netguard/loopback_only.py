"""Loopback-only networking for the tests: a connection or a name lookup that would leave the
machine raises :class:`NetworkGuardError` and is reported to a sink.

Guarded: ``socket.socket.connect`` / ``connect_ex`` / ``sendto`` (so ``socket.create_connection``,
asyncio's ``open_connection`` / ``create_connection`` / ``sock_connect`` and every client built
on them: aiohttp, websockets, asyncpg, httpx), and ``getaddrinfo`` / ``gethostbyname`` /
``gethostbyname_ex`` / ``gethostbyaddr`` / ``getnameinfo`` for names other than ``localhost``
and this machine's own name. Allowed: 127.0.0.1, ::1, ``localhost`` and unix sockets.

This file is standalone (standard library only): the test session imports it as
``tests.netguard.loopback_only``, and every Python process the tests start imports it as
``loopback_only`` from ``sitecustomize`` next to it (see ``tests/netguard/__init__.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost", "localhost."})
LOG_ENV = "GL_NETGUARD_LOG"  # file the guarded child processes append their violations to
RULE = "tests may only reach 127.0.0.1, ::1, localhost or unix sockets"

METHODS = ("connect", "connect_ex", "sendto")
LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")

Sink = Callable[[str], None]


class NetworkGuardError(RuntimeError):
    """A test (or a process it started) tried to reach beyond loopback.

    Not an ``OSError`` on purpose: retry loops that catch ``OSError`` do not swallow it (and
    every attempt is reported to the sink anyway, so a swallowed one still fails the test).
    """


_lock = threading.Lock()
_state: dict[str, Any] = {"sink": None, "originals": None, "own_names": frozenset()}


def _where() -> str:
    """The innermost caller outside this file and the standard library."""
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    for frame in reversed(traceback.extract_stack()):
        if frame.filename != __file__ and not frame.filename.startswith(stdlib):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "the standard library"


def _refuse(what: str, target: object) -> NetworkGuardError:
    message = (
        f"network guard: {what} {target!r} blocked in pid {os.getpid()} "
        f"({' '.join(sys.argv)[:120]}) at {_where()}: {RULE}"
    )
    sink: Sink | None = _state["sink"]
    if sink is not None:
        sink(message)
    return NetworkGuardError(message)


def _text(host: object) -> str | None:
    if host is None:
        return None
    if isinstance(host, bytes | bytearray):
        return bytes(host).decode("ascii", "replace")
    return str(host)


def _is_ip_literal(host: str) -> bool:
    bare = host.split("%", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, bare)
        except OSError:
            continue
        return True
    return False


def local_name(host: object) -> bool:
    """Whether looking ``host`` up stays on this machine: no host, an IP literal (no lookup;
    where it leads is checked at connect), ``localhost`` or this machine's own name."""
    text = _text(host)
    if text is None or text == "" or _is_ip_literal(text):
        return True
    lowered = text.lower()
    own: frozenset[str] = _state["own_names"]
    return lowered in LOOPBACK or lowered.endswith(".localhost") or lowered in own


def loopback_address(family: int, address: object) -> bool:
    """Whether connecting a socket of ``family`` to ``address`` stays on loopback."""
    if family == getattr(socket, "AF_UNIX", None):
        return True
    if family not in (socket.AF_INET, socket.AF_INET6):
        return False
    if not isinstance(address, tuple) or not address:
        return False
    host = _text(address[0])
    return host is not None and host.split("%", 1)[0].lower() in LOOPBACK


def install(sink: Sink | None) -> None:
    """Guard this process; report every refused attempt to ``sink`` (replacing any earlier
    sink when the guard is already installed)."""
    with _lock:
        _state["sink"] = sink
        if _state["originals"] is not None:
            return
        originals = {name: getattr(socket.socket, name) for name in METHODS}
        originals |= {name: getattr(socket, name) for name in LOOKUPS}
        _state["originals"] = originals
        _state["own_names"] = frozenset({socket.gethostname().lower()})
        _patch_sockets(originals)
        _patch_lookups(originals)


def _patch_sockets(orig: dict[str, Any]) -> None:
    def connect(self: socket.socket, address: Any) -> None:
        if not loopback_address(self.family, address):
            raise _refuse("connect to", address)
        orig["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not loopback_address(self.family, address):
            raise _refuse("connect_ex to", address)
        return int(orig["connect_ex"](self, address))

    def sendto(self: socket.socket, data: Any, *rest: Any) -> int:
        if rest and not loopback_address(self.family, rest[-1]):
            raise _refuse("sendto", rest[-1])
        return int(orig["sendto"](self, data, *rest))

    for name, guarded in (("connect", connect), ("connect_ex", connect_ex), ("sendto", sendto)):
        setattr(socket.socket, name, guarded)


def _patch_lookups(orig: dict[str, Any]) -> None:
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not local_name(host):
            raise _refuse("name lookup (getaddrinfo) of", host)
        return orig["getaddrinfo"](host, port, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        if not local_name(host):
            raise _refuse("name lookup (gethostbyname) of", host)
        return str(orig["gethostbyname"](host))

    def gethostbyname_ex(host: str) -> Any:
        if not local_name(host):
            raise _refuse("name lookup (gethostbyname_ex) of", host)
        return orig["gethostbyname_ex"](host)

    def gethostbyaddr(host: str) -> Any:
        if not (local_name(host) and (not _is_ip_literal(host) or host in LOOPBACK)):
            raise _refuse("reverse lookup (gethostbyaddr) of", host)
        return orig["gethostbyaddr"](host)

    def getnameinfo(address: Any, flags: int) -> Any:
        host = _text(address[0]) if isinstance(address, tuple) and address else None
        numeric = flags & socket.NI_NUMERICHOST
        if not numeric and host not in LOOPBACK:
            raise _refuse("reverse lookup (getnameinfo) of", address)
        return orig["getnameinfo"](address, flags)

    guarded = (getaddrinfo, gethostbyname, gethostbyname_ex, gethostbyaddr, getnameinfo)
    for name, function in zip(LOOKUPS, guarded, strict=True):
        setattr(socket, name, function)


def uninstall() -> None:
    """Put the original socket functions back."""
    with _lock:
        orig = _state["originals"]
        if orig is None:
            return
        for name in METHODS:
            setattr(socket.socket, name, orig[name])
        for name in LOOKUPS:
            setattr(socket, name, orig[name])
        _state["originals"] = None
        _state["sink"] = None


def append_to_file(path: str) -> Sink:
    """A sink that appends one line per refused attempt to ``path`` (one ``write`` of an
    ``O_APPEND`` file each, so lines from concurrent processes do not interleave)."""

    def sink(message: str) -> None:
        line = (message.replace("\n", " ") + "\n").encode("utf-8", "replace")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    return sink


def install_from_environment() -> None:
    """Guard a child process: report to the file named by ``GL_NETGUARD_LOG`` (when set)
    and to stderr."""
    path = os.environ.get(LOG_ENV)
    to_file = append_to_file(path) if path else None

    def sink(message: str) -> None:
        if to_file is not None:
            to_file(message)
        with contextlib.suppress(OSError, ValueError):  # stderr closed: the file has it
            sys.stderr.write(message + "\n")

    install(sink)
