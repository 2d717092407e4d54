"""The bot process on a real database: a command through the desk, and a clean stop that
closes the router client's HTTP session."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from bot.service import serve_bot
from greenlight.core.settings import Settings
from tests.fakes.chat import RecordingChannel, RecordingRouter
from tests.helpers import eventually


async def test_stop_closes_the_router_session_and_channels(db_url: str, tmp_path: Path) -> None:
    router, channel, ready = RecordingRouter(), RecordingChannel("console"), asyncio.Event()
    settings = Settings.model_validate({"bot": {"summary_hour": -1}})
    task = asyncio.create_task(
        serve_bot(settings, db_url, router, [channel], chart_dir=tmp_path, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 60)
    reply = await channel.inbound.on_command("console", "local", "console", "kill", ["confirm"])
    assert reply.ok and router.kills == [(False, "console:local")]

    async def stopped() -> bool:
        return router.closed

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await eventually(stopped, 5, "router session closed")
