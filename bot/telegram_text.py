"""Text helpers for the Telegram channel: Telegram's length rules, command parsing, and a
log filter that keeps the bot token out of logs."""

from __future__ import annotations

import logging


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to ``limit`` UTF-16 code units (Telegram's measure), ending in "…"."""
    if utf16_len(text) <= limit:
        return text
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            return text[:i] + "…"
    return text  # unreachable: the text was longer than the limit


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the way Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def parse_command(text: str, bot_username: str) -> tuple[str, list[str]] | None:
    """``"/Approve@MyBot 12 now"`` → ``("approve", ["12", "now"])``; None if addressed elsewhere."""
    parts = text.split()
    if not parts or not parts[0].startswith("/"):
        return None
    name, _, target = parts[0].removeprefix("/").partition("@")
    if not name or (target and target.lower() != bot_username.lower()):
        return None
    args = parts[1:]
    return name.lower(), args


class RedactToken(logging.Filter):
    """Replaces the bot token in HTTP client log lines (they log the full request URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        return True
