"""The one command table every channel reads: name, least role, arguments, help, handler.

Console, Telegram and LINE hand a typed or tapped command to :meth:`CommandTable.dispatch`;
Telegram's ``setMyCommands`` (per role), ``/help`` and the role check are all derived from the
same rows. Dispatch looks the name up and calls *that row's* handler, so an unknown command,
or one whose row is missing, can never reach another command's handler.

Adding a command is one row in :mod:`bot.commands.catalog` plus one handler function
``async def handler(call: Call) -> Reply``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot import callbacks
from bot.access import RANK, Role
from bot.channel import Button, Reply
from greenlight.core.store import audit

if TYPE_CHECKING:
    from bot.context import BotContext

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,15}")
Option = tuple[str, tuple[str, ...]]  # (button label, arguments it runs the command with)


@dataclass(frozen=True)
class Call:
    """One command invocation: who asked, where, with which arguments."""

    ctx: BotContext
    table: CommandTable
    channel: str
    user_id: str
    chat_id: str
    args: tuple[str, ...]
    who: str
    role: Role
    tapped: bool = False  # arrived through a command button

    def button(self, label: str, command: str, *args: str) -> Button:
        """A signed button that runs ``/command args…`` for whoever taps it."""
        token = callbacks.encode_command(command, args, self.ctx.key)
        return Button(label, token, " ".join((command, *args)))


Handler = Callable[[Call], Awaitable[Reply]]
Picker = Callable[[Call], Awaitable[Sequence[Option]]]


@dataclass(frozen=True)
class Command:
    """One row of the table. ``args`` is the usage (``SYMBOL [TF]``): when it starts with a
    required word, no arguments are given and the row has a ``picker``, the person is offered
    the picker's options as buttons instead."""

    name: str
    role: Role
    args: str
    help: str
    handler: Handler
    picker: Picker | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in (self.name, *self.aliases):
            if not _NAME_RE.fullmatch(name):
                raise ValueError(f"command name {name!r}: 1-16 lower-case letters/digits/_")
        if self.role not in RANK:
            raise ValueError(f"/{self.name}: unknown role {self.role!r}")
        if not 1 <= len(self.help) <= 200:
            raise ValueError(f"/{self.name}: help must be 1-200 characters")
        if not callable(self.handler):
            raise ValueError(f"/{self.name}: handler is not callable")

    @property
    def needs_argument(self) -> bool:
        """Whether the usage starts with a required argument."""
        return bool(self.args) and not self.args.startswith("[")

    def usage(self) -> str:
        """``/watch SYMBOL [TF]``."""
        return f"/{self.name} {self.args}".rstrip()


class CommandTable:
    """The rows, looked up by name or alias."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self.rows: tuple[Command, ...] = tuple(commands)
        self._by_name: dict[str, Command] = {}
        for cmd in self.rows:
            for name in (cmd.name, *cmd.aliases):
                if name in self._by_name:
                    raise ValueError(f"command name /{name} appears twice in the table")
                self._by_name[name] = cmd

    def get(self, name: str) -> Command | None:
        """The row for ``name`` (or an alias), if any."""
        return self._by_name.get(name.lower().lstrip("/"))

    def visible_to(self, role: Role | None) -> list[Command]:
        """Rows a person with ``role`` may run (none without a role)."""
        rank = RANK[role] if role else 0
        return [c for c in self.rows if RANK[c.role] <= rank]

    def help_text(self, role: Role | None) -> str:
        """One line per command the role may run."""
        rows = self.visible_to(role)
        if not rows:
            return "You are not on this bot's allow-list. /whoami shows the id to add."
        return "\n".join(f"{c.usage()} — {c.help}" for c in rows)

    async def dispatch(
        self,
        ctx: BotContext,
        channel: str,
        user_id: str,
        chat_id: str,
        name: str,
        args: Sequence[str],
        tapped: bool = False,
    ) -> Reply:
        """Run ``name`` for the user if their role allows it; refusals are audited."""
        cmd = self.get(name)
        role = ctx.access.role(channel, user_id)
        if cmd is None:
            return Reply(f"Unknown command /{name}. Send /help for the list.", ok=False)
        if not ctx.access.allows(channel, user_id, cmd.role):
            async with ctx.pool.acquire() as conn:
                detail = {"command": cmd.name, "needed": cmd.role, "chat": chat_id}
                await audit(conn, f"{channel}:{user_id}", "command.refused", None, detail)
            text = f"Not authorised: /{cmd.name} needs the {cmd.role} role."
            if role is None:  # tell a stranger the id an admin would add to [[bot.users]]
                text += f" You are not on the allow-list ({channel} user id {user_id})."
            return Reply(text, ok=False)
        assert role is not None  # allows() is False without a role
        who = ctx.access.display_name(channel, user_id)
        call = Call(ctx, self, channel, user_id, chat_id, tuple(args), who, role, tapped)
        if cmd.needs_argument and not args and cmd.picker is not None:
            options = await cmd.picker(call)
            if options:
                buttons = tuple(call.button(label, cmd.name, *a) for label, a in options)
                return Reply(f"{cmd.usage()} — pick one:", buttons=buttons)
        return await cmd.handler(call)
