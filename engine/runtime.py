"""Process plumbing shared by the long-running commands (engine, router, bot)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any


def run_until_signalled(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` until it returns or SIGINT/SIGTERM cancels it (a clean stop)."""

    async def runner() -> None:
        task = asyncio.create_task(main())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())
