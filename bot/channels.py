"""Builds the channels named in ``bot.channels`` from settings and secrets, on the bot's
clock."""

from __future__ import annotations

from pathlib import Path

from bot.channel import Channel
from bot.commands.table import CommandTable
from bot.console import ConsoleChannel
from greenlight.core.clock import Clock
from greenlight.core.secrets import Secret
from greenlight.core.settings import REPO_ROOT, Settings


def build_channels(
    settings: Settings, secret_values: dict[str, Secret], table: CommandTable, clock: Clock
) -> list[Channel]:
    """The channels of ``settings.bot.channels``, each reading ``clock``; a missing secret is
    a clear error."""
    channels: list[Channel] = []
    for name in settings.bot.channels:
        if name == "console":
            user = next((u.user_id for u in settings.bot.users if u.channel == "console"), "local")
            channels.append(ConsoleChannel(user_id=user))
        elif name == "telegram":
            channels.append(_telegram(settings, secret_values, table, clock))
        else:
            channels.append(_line(settings, secret_values, clock))
    return channels


def _secret(secret_values: dict[str, Secret], name: str, channel: str) -> str:
    value = secret_values.get(name)
    if value is None:
        raise ValueError(f"bot.channels has {channel} but {name} is unset")
    return value.value


def _telegram(
    settings: Settings, secret_values: dict[str, Secret], table: CommandTable, clock: Clock
) -> Channel:
    from bot.telegram import TelegramChannel

    t = settings.telegram
    token = _secret(secret_values, "GREENLIGHT_TELEGRAM_TOKEN", "telegram")
    webhook = (
        (t.webhook_url, t.webhook_host, t.webhook_port, t.webhook_path)
        if t.mode == "webhook"
        else None
    )
    return TelegramChannel(
        token,
        t.base_url,
        list(t.chat_ids),
        poll_timeout=t.poll_timeout_s,
        commands=[(c.name, c.role, c.help) for c in table.rows],
        users=[(u.user_id, u.role) for u in settings.bot.users if u.channel == "telegram"],
        webhook=webhook,
        clock=clock,
    )


def _line(settings: Settings, secret_values: dict[str, Secret], clock: Clock) -> Channel:
    from bot.line.channel import LineChannel

    line = settings.line
    if not line.public_base_url:
        raise ValueError("bot.channels has line but line.public_base_url is unset")
    return LineChannel(
        _secret(secret_values, "GREENLIGHT_LINE_ACCESS_TOKEN", "line"),
        _secret(secret_values, "GREENLIGHT_LINE_CHANNEL_SECRET", "line"),
        line.api_base_url,
        line.to_ids,
        line.public_base_url,
        chart_dir(settings),
        webhook=(line.webhook_host, line.webhook_port, line.webhook_path),
        events=line.events,
        image_ttl_s=line.image_ttl_s,
        reply_window_s=line.reply_window_s,
        clock=clock,
    )


def chart_dir(settings: Settings) -> Path:
    """Where charts are rendered (and LINE serves them from)."""
    return Path(settings.bot.chart_dir or REPO_ROOT / "var" / "charts")
