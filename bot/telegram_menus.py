"""Telegram command menus per role: ``setMyCommands`` scoped to each allowed person.

Everyone else sees only ``/help`` and ``/whoami`` (the default scope). In a private chat a
person's menu is the chat's; in a group it is scoped to that member, so a viewer and a trader
in the same group see different menus. The role check itself never depends on menus.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import BotCommand, BotCommandScope, BotCommandScopeChat, BotCommandScopeChatMember

from bot.access import RANK

CommandRow = tuple[str, str, str]  # name, least role, description
Menu = tuple[BotCommandScope | None, list[BotCommand]]
PUBLIC = ("help", "whoami")


def menus(
    commands: Sequence[CommandRow], users: Sequence[tuple[str, str]], chats: Sequence[int]
) -> list[Menu]:
    """The default menu, then one menu per (chat, allowed user) that can meet there."""

    def for_role(role: str | None) -> list[BotCommand]:
        rank = RANK[role] if role else 0
        return [
            BotCommand(name, desc)
            for name, least, desc in commands
            if RANK[least] <= rank or (role is None and name in PUBLIC)
        ]

    out: list[Menu] = [(None, for_role(None))]
    for chat in chats:
        for user_id, role in users:
            if not user_id.lstrip("-").isdigit():
                continue
            if chat > 0 and int(user_id) == chat:
                out.append((BotCommandScopeChat(chat), for_role(role)))
            elif chat < 0:
                out.append((BotCommandScopeChatMember(chat, int(user_id)), for_role(role)))
    return out
