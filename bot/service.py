"""The bot process: channels + approval service, driven by PostgreSQL notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from bot.access import AccessList
from bot.approvals import ApprovalService, RouterPort
from bot.channel import Channel
from bot.console import ConsoleChannel
from bot.snapshot import DecisionCharts
from engine.db import connect_pool, database_url, migrate
from engine.db_outage import Backoff, ResilientListener, ResilientLoop, retry_while_unavailable
from engine.runtime import run_until_signalled
from engine.secrets import Secret, load_secrets
from engine.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
TICK_S = 0.5


async def callback_key(pool: asyncpg.Pool) -> bytes:
    """The HMAC key for button tokens: made once, kept in ``control`` so buttons survive a
    bot restart."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO control (key, value, updated_by) VALUES ('callback_key', $1, 'bot')"
            " ON CONFLICT (key) DO NOTHING",
            secrets.token_hex(32),
        )
        value = await conn.fetchval("SELECT value FROM control WHERE key = 'callback_key'")
    return bytes.fromhex(str(value))


def build_channels(settings: Settings, secret_values: dict[str, Secret]) -> list[Channel]:
    """The channels named in ``settings.bot.channels``; a missing token is a clear error."""
    channels: list[Channel] = []
    for name in settings.bot.channels:
        if name == "console":
            user = next((u.user_id for u in settings.bot.users if u.channel == "console"), "local")
            channels.append(ConsoleChannel(user_id=user))
        elif name == "telegram":
            from bot.telegram import TelegramChannel

            token = secret_values.get("GREENLIGHT_TELEGRAM_TOKEN")
            if token is None:
                raise ValueError("bot.channels has telegram but GREENLIGHT_TELEGRAM_TOKEN is unset")
            channels.append(
                TelegramChannel(
                    token.value,
                    settings.telegram.base_url,
                    list(settings.telegram.chat_ids),
                    poll_timeout=settings.telegram.poll_timeout_s,
                )
            )
        else:
            raise ValueError(f"channel {name!r} is not available yet (LINE is coming)")
    return channels


async def serve_bot(
    settings: Settings,
    db_url: str,
    router: RouterPort,
    channels: Sequence[Channel],
    auto_approve: bool = False,
    chart_dir: Path | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the approval service until cancelled."""
    await migrate(db_url)
    pool = await connect_pool(db_url, settings.database.pool_size)
    charts_dir = chart_dir or Path(settings.bot.chart_dir or REPO_ROOT / "var" / "charts")
    charts = DecisionCharts(pool, charts_dir, settings.bot.chart_candles)
    await charts.warm_up()
    backoff = Backoff("bot")  # a restart of the database is waited out from here on
    svc = ApprovalService(
        settings,
        pool,
        channels,
        router,
        AccessList(settings.bot.users),
        charts,
        await retry_while_unavailable(lambda: callback_key(pool), backoff),
        auto_approve=auto_approve,
    )
    wake: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def on_notify(_c: object, _pid: int, channel: str, payload: str) -> None:
        wake.put_nowait((channel, payload))

    async def step() -> None:
        with contextlib.suppress(TimeoutError):
            kind, payload = await asyncio.wait_for(wake.get(), TICK_S)
            if kind == "gl_decisions" and payload.isdigit():
                await svc.present(int(payload))
        await svc.expire_due()
        await svc.finalize_decided()
        await svc.deliver_alerts()

    # A database restart is ridden out: the loop waits with back-off, the LISTEN connection
    # is re-opened, and a sweep presents / delivers whatever was notified meanwhile.
    loop = ResilientLoop("bot", step, svc.sweep, backoff)
    listener = ResilientListener(
        db_url, ("gl_decisions", "gl_alerts"), on_notify, loop.fall_behind, who="bot"
    )
    await listener.start()
    try:
        for ch in channels:
            await ch.start(svc)
        await retry_while_unavailable(svc.sweep, backoff)
        if ready:
            ready.set()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(listener.run(), name="bot-listen")
            tg.create_task(loop.run(), name="bot-loop")
    finally:
        for ch in channels:
            with contextlib.suppress(Exception):
                await ch.stop()
        charts.close()
        await listener.close()
        await pool.close()


def run_bot(settings: Settings, auto_approve: bool = False) -> int:
    """``greenlight bot``: run until SIGINT/SIGTERM."""
    from router.client import RouterClient

    secret_values = load_secrets()
    token = secret_values.get("GREENLIGHT_ROUTER_TOKEN")
    if token is None:
        log.error("GREENLIGHT_ROUTER_TOKEN is not set; the bot cannot reach the router")
        return 2
    try:
        channels = build_channels(settings, secret_values)
    except ValueError as exc:
        log.error("bot cannot start: %s", exc)
        return 2
    url = database_url(settings)
    router = RouterClient(f"http://{settings.router.host}:{settings.router.port}", token.value)

    run_until_signalled(lambda: serve_bot(settings, url, router, channels, auto_approve))
    return 0
