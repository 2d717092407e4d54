"""Test helpers: polling with deadlines (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Await ``probe`` repeatedly until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


def wait_until(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Synchronous twin of :func:`eventually` for blocking code."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
