"""Builds the channels named in ``bot.channels`` from settings and secrets."""

from __future__ import annotations

from bot.channel import Channel
from bot.commands.table import CommandTable
from bot.console import ConsoleChannel
from engine.secrets import Secret
from engine.settings import Settings


def build_channels(
    settings: Settings, secret_values: dict[str, Secret], table: CommandTable
) -> list[Channel]:
    """The channels of ``settings.bot.channels``; a missing secret is a clear error."""
    channels: list[Channel] = []
    for name in settings.bot.channels:
        if name == "console":
            user = next((u.user_id for u in settings.bot.users if u.channel == "console"), "local")
            channels.append(ConsoleChannel(user_id=user))
        elif name == "telegram":
            channels.append(_telegram(settings, secret_values, table))
        else:
            channels.append(_line(settings, secret_values))
    return channels


def _secret(secret_values: dict[str, Secret], name: str, channel: str) -> str:
    value = secret_values.get(name)
    if value is None:
        raise ValueError(f"bot.channels has {channel} but {name} is unset")
    return value.value


def _telegram(settings: Settings, secret_values: dict[str, Secret], table: CommandTable) -> Channel:
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
    )


def _line(settings: Settings, secret_values: dict[str, Secret]) -> Channel:
    raise ValueError("LINE is not wired yet")
