"""Start-up problems as one clear line instead of a traceback.

- :class:`StartupError`: something the operator must change (a busy port, an unreachable
  database); the ``greenlight`` command prints it and exits with code 2.
- :func:`port_problem` / :func:`bind_problem`: a busy port, naming the setting to change.
- :func:`retry_with_backoff`: a venue or chat service not reachable yet is waited for with
  capped exponential back-off and one log line per attempt, instead of ending the process.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from greenlight.core.readiness import mark_not_ready

T = TypeVar("T")
log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A process cannot start; the message says what to change."""


def port_message(host: str, port: int, setting: str) -> str:
    """The words for a busy port: which port, which setting, how to change it."""
    env = "GREENLIGHT_" + setting.replace(".", "_").upper()
    return (
        f"port {port} on {host} is already in use ({setting}); stop the program using it "
        f"(`ss -ltnp 'sport = :{port}'` shows it) or choose another port: {env}=<port> or "
        f"{setting.split('.')[-1]} = <port> under [{setting.split('.')[0]}] in settings.toml"
    )


def port_problem(host: str, port: int, setting: str) -> str | None:
    """``None`` when ``host:port`` can be listened on now, else :func:`port_message`.

    Binds the way aiohttp does (``SO_REUSEADDR``), so a port in TIME_WAIT counts as free."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return port_message(host, port, setting)
            raise
    return None


def bind_problem(exc: OSError, host: str, port: int, setting: str) -> StartupError | None:
    """A :class:`StartupError` naming ``setting`` when ``exc`` is a failed bind, else None."""
    if exc.errno == errno.EADDRINUSE or "address already in use" in str(exc).lower():
        return StartupError(port_message(host, port, setting))
    if exc.errno == errno.EACCES:
        return StartupError(f"not allowed to listen on {host}:{port} ({setting}): {exc}")
    return None


async def retry_with_backoff(
    what: str,
    call: Callable[[], Awaitable[T]],
    temporary: tuple[type[BaseException], ...],
    hint: str,
    first_delay_s: float = 1.0,
    max_delay_s: float = 30.0,
    attempts: int = 0,
) -> T:
    """Run ``call`` until it succeeds; a ``temporary`` error is logged as one line naming
    ``what`` and ``hint`` and retried after 1, 2, 4 … ``max_delay_s`` seconds. Other errors
    propagate. ``attempts`` > 0 bounds the tries (the last error then propagates)."""
    delay, attempt = first_delay_s, 0
    while True:
        attempt += 1
        try:
            return await call()
        except temporary as exc:
            if attempts and attempt >= attempts:
                raise
            reason = str(exc) or type(exc).__name__
            # a venue's ban or rate limit names its own pause (Retry-After): never ask earlier
            pause = max(delay, float(getattr(exc, "retry_after", 0.0) or 0.0))
            mark_not_ready(f"waiting for {what}: {reason}")
            log.warning(
                "%s not reachable (%s); retry %d in %.0f s. %s", what, reason, attempt, pause, hint
            )
        await asyncio.sleep(pause)
        delay = min(delay * 2, max_delay_s)
