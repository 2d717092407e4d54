"""Process plumbing shared by the long-running commands (engine, router, bot)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenlight.core.ops_http import OpsServer


def run_until_signalled(
    main: Callable[[], Coroutine[Any, Any, None]], ops: OpsServer | None = None
) -> None:
    """Run ``main()`` until it returns or SIGINT/SIGTERM cancels it (a clean stop).

    Only the first signal cancels: a second one (say the parent-death signal and the
    supervisor watchdog's SIGTERM) must not interrupt the clean-up already under way.
    ``ops`` (``/metrics``, ``/healthz``, ``/readyz``) is served from before ``main`` starts
    until it has stopped, so a process waiting for its venue already answers "not ready".
    """

    async def runner() -> None:
        from greenlight.core.ops_http import with_ops

        await with_ops(ops, supervised())

    async def supervised() -> None:
        task = asyncio.create_task(main())
        loop = asyncio.get_running_loop()

        stopping = False

        def stop() -> None:
            nonlocal stopping
            if not stopping:
                stopping = True
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())
