"""The bot process: channels, the command desk, approvals and alerts, driven by PostgreSQL
notifications (``gl_decisions``, ``gl_alerts``, ``gl_candles``) and a short tick.

This is the bot's composition root: :func:`run_bot` makes the process's one clock and hands
it to the channels and to :func:`serve_bot`, which hands it to the approval service and the
command context (and through it to commands, alerts and /backtest jobs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.access import AccessList
from bot.alerts import summary
from bot.alerts.delivery import AlertDelivery
from bot.alerts.follower import GuardFollower, MarketFollower
from bot.approvals import ApprovalService, RouterPort
from bot.channel import Channel
from bot.channel_start import start_channels
from bot.channels import build_channels
from bot.channels import chart_dir as default_chart_dir
from bot.charting import BotCharts
from bot.commands.catalog import COMMANDS
from bot.context import BotContext
from bot.desk import Desk
from greenlight.core.clock import Clock, SystemClock
from greenlight.core.contracts import NotifyChannel, notified_id
from greenlight.core.db import connect_pool, database_url, migrate
from greenlight.core.db_outage import (
    Backoff,
    ResilientListener,
    ResilientLoop,
    retry_while_unavailable,
)
from greenlight.core.ops_http import OpsServer
from greenlight.core.readiness import mark_ready
from greenlight.core.runtime import run_until_signalled
from greenlight.core.secrets import load_secrets
from greenlight.core.settings import Settings
from greenlight.core.trace import in_decision_trace

log = logging.getLogger(__name__)
TICK_S = 0.5
HOLD_TICK_S = 0.1  # while a burst of alerts is being grouped
EQUITY_SAMPLE_S = 60.0
NOTIFY_CHANNELS = (NotifyChannel.DECISIONS, NotifyChannel.ALERTS, NotifyChannel.CANDLES)
__all__ = ["build_channels", "callback_key", "run_bot", "serve_bot"]


async def callback_key(pool: asyncpg.Pool) -> bytes:
    """The HMAC key for button tokens (and LINE image URLs): made once, kept in ``control``
    so buttons survive a bot restart."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO control (key, value, updated_by) VALUES ('callback_key', $1, 'bot')"
            " ON CONFLICT (key) DO NOTHING",
            secrets.token_hex(32),
        )
        value = await conn.fetchval("SELECT value FROM control WHERE key = 'callback_key'")
    return bytes.fromhex(str(value))


class BotLoop:
    """Two loops on the event loop. The decision loop shows new decisions the moment they are
    notified and, every tick, expires them and edits decided confirmations; it never waits
    behind alerts. The alert loop follows watched streams and guards and delivers alerts
    (woken by ``gl_candles`` / ``gl_alerts``, or the tick)."""

    def __init__(
        self, ctx: BotContext, channels: Sequence[Channel], backoff: Backoff | None = None
    ) -> None:
        s = ctx.settings.bot
        self.ctx = ctx
        backoff = backoff or Backoff("bot")
        self._loops = (
            ResilientLoop("bot", self.decision_step, ctx.approvals.sweep, backoff),
            ResilientLoop("bot", self.alert_step, _nothing, backoff),
        )
        self.market = MarketFollower(ctx)
        self.guards = GuardFollower(ctx)
        self.delivery = AlertDelivery(
            ctx,
            channels,
            group_window_s=s.alert_group_window_s,
            max_age=timedelta(seconds=s.alert_max_age_s),
        )
        self.decisions: asyncio.Queue[str] = asyncio.Queue()
        self.alerts: asyncio.Queue[str] = asyncio.Queue()
        self._sampled = float("-inf")  # the clock's monotonic reading at the last sample

    def on_notify(self, _c: object, _pid: int, channel: str, payload: str) -> None:
        """asyncpg listener callback."""
        if channel == NotifyChannel.DECISIONS:
            self.decisions.put_nowait(payload)
        else:
            self.alerts.put_nowait(payload)

    def fall_behind(self) -> None:
        """Notifications may have been missed (the LISTEN connection was re-opened): sweep
        before the next step."""
        for loop in self._loops:
            loop.fall_behind()

    async def run(self) -> None:
        """Both loops until cancelled (an error other than an unavailable database in either
        stops both)."""
        decisions, alerts = self._loops
        async with asyncio.TaskGroup() as tg:
            tg.create_task(decisions.run(), name="bot-decisions")
            tg.create_task(alerts.run(), name="bot-alerts")

    async def decision_step(self) -> None:
        """Show notified decisions, then expire and finalize."""
        got = await _drain(self.decisions, TICK_S)
        approvals = self.ctx.approvals
        for payload in got:
            did = notified_id(payload)
            if did is not None:
                await in_decision_trace(self.ctx.pool, did, approvals.present(did))
        await approvals.expire_due()
        await approvals.finalize_decided()

    async def alert_step(self) -> None:
        """Follow streams and guards, deliver alerts, sample equity now and then. A failure
        here is logged and retried on the next pass: it never stops the decision loop."""
        await _drain(self.alerts, HOLD_TICK_S if self.delivery.holding else TICK_S)
        now = self.ctx.clock.monotonic()
        sample = now - self._sampled >= EQUITY_SAMPLE_S
        if sample:
            self._sampled = now
        for part in (self.market.run_once, self.guards.run_once, self.delivery.run_once):
            try:
                await part()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("alerts: %s failed: %s", part.__qualname__, exc)
        if sample:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await summary.sample_equity(self.ctx.pool)


async def _drain(queue: asyncio.Queue[str], timeout: float) -> list[str]:
    """Everything queued, waiting up to ``timeout`` for the first item."""
    got: list[str] = []
    with contextlib.suppress(TimeoutError):
        got.append(await asyncio.wait_for(queue.get(), timeout))
    while not queue.empty():
        got.append(queue.get_nowait())
    return got


def _scheduler(ctx: BotContext) -> AsyncIOScheduler | None:
    hour = ctx.settings.bot.summary_hour
    if hour < 0:
        return None
    scheduler = AsyncIOScheduler(timezone=ctx.tz)
    scheduler.add_job(summary.daily, CronTrigger(hour=hour, timezone=ctx.tz), args=[ctx])
    return scheduler


async def serve_bot(
    settings: Settings,
    db_url: str,
    router: RouterPort,
    channels: Sequence[Channel],
    auto_approve: bool = False,
    chart_dir: Path | None = None,
    ready: asyncio.Event | None = None,
    clock: Clock = SystemClock(),
) -> None:
    """Run the bot until cancelled, reading the time from ``clock`` (the one the channels
    were built with); on the way out stop every channel and close every HTTP session (the
    router client's included)."""
    await migrate(db_url)
    pool = await connect_pool(db_url, settings.database.pool_size)
    charts_dir = chart_dir or default_chart_dir(settings)
    charts = BotCharts(pool, charts_dir, settings.bot.chart_candles, settings.general.timezone)
    scheduler: AsyncIOScheduler | None = None
    backoff = Backoff("bot")  # a restart of the database is waited out from here on
    listener: ResilientListener | None = None
    ctx: BotContext | None = None
    try:
        await charts.warm_up()
        access = AccessList(settings.bot.users)
        key = await retry_while_unavailable(lambda: callback_key(pool), backoff)
        approvals = ApprovalService(
            settings, pool, channels, router, access, charts, key, clock, auto_approve=auto_approve
        )
        ctx = BotContext(settings, pool, access, approvals, router, charts, key, clock)
        desk, loop = Desk(ctx, COMMANDS), BotLoop(ctx, channels, backoff)
        # A database restart is ridden out: the loops wait with back-off, the LISTEN
        # connection is re-opened, and a sweep presents / delivers what was notified meanwhile.
        listener = ResilientListener(
            db_url, NOTIFY_CHANNELS, loop.on_notify, loop.fall_behind, who="bot"
        )
        await listener.start()
        await start_channels(channels, desk)
        await retry_while_unavailable(approvals.sweep, backoff)
        mark_ready()
        scheduler = _scheduler(ctx)
        if scheduler is not None:
            scheduler.start()
        if ready:
            ready.set()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(listener.run(), name="bot-listen")
            tg.create_task(loop.run(), name="bot-loop")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if ctx is not None:  # a running /backtest's worker is killed and its chat told
            await ctx.backtests.close()
        for ch in channels:
            with contextlib.suppress(Exception):
                await ch.stop()
        with contextlib.suppress(Exception):
            await router.close()
        charts.close()
        if listener is not None:
            await listener.close()
        await pool.close()


def run_bot(settings: Settings, auto_approve: bool = False) -> int:
    """``greenlight bot``: run until SIGINT/SIGTERM."""
    from router.client import RouterClient

    clock = SystemClock()  # the process's one clock
    secret_values = load_secrets()
    token = secret_values.get("GREENLIGHT_ROUTER_TOKEN")
    if token is None:
        log.error("GREENLIGHT_ROUTER_TOKEN is not set; the bot cannot reach the router")
        return 2
    try:
        channels = build_channels(settings, secret_values, COMMANDS, clock)
    except ValueError as exc:
        log.error("bot cannot start: %s", exc)
        return 2
    url = database_url(settings)
    router = RouterClient(f"http://{settings.router.host}:{settings.router.port}", token.value)

    run_until_signalled(
        lambda: serve_bot(settings, url, router, channels, auto_approve, clock=clock),
        OpsServer.for_process(settings, "bot"),
    )
    return 0


async def _nothing() -> None:
    """No catch-up needed: the alert loop reads what is pending from the database anyway."""
