"""``/help``, ``/start`` and ``/whoami``."""

from __future__ import annotations

from bot.channel import Reply
from bot.commands.table import Call


async def help_(call: Call) -> Reply:
    """Every command the caller's role may run, from the table."""
    return Reply(call.table.help_text(call.role))


async def whoami(call: Call) -> Reply:
    """The caller's channel, user id, chat id, role and name (to fill the allow-list)."""
    return Reply(
        f"You are {call.who} · {call.channel} user id {call.user_id} · role {call.role}\n"
        f"This chat: {call.chat_id}"
    )
