"""The console channel: prints confirmations and alerts, reads commands from standard input.

Typed lines are commands of the one command table (:mod:`bot.commands.catalog`): ``approve 12``,
``status``, ``kill`` then ``kill confirm``, ``chart BTCUSDT``, ``help`` … (a leading ``/`` is
optional). Buttons are shown as what to type; images as their file paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import stat
import sys
from collections.abc import Callable
from typing import TextIO

from bot.channel import Button, Confirmation, Inbound, Notice, Reply, SentMessage

CONSOLE_CHAT = "console"


class ConsoleChannel:
    """Implements :class:`bot.channel.Channel` on a terminal."""

    name = "console"

    def __init__(
        self,
        user_id: str = "local",
        out: TextIO | None = None,
        read_stdin: bool = True,
    ) -> None:
        self._user = user_id
        self._out = out or sys.stdout
        self._read_stdin = read_stdin
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._inbound: Inbound | None = None

    def _print(self, text: str) -> None:
        self._out.write(text.rstrip("\n") + "\n")
        self._out.flush()

    async def start(self, inbound: Inbound) -> None:
        """Begin reading commands from stdin (if enabled)."""
        self._inbound = inbound
        if self._read_stdin and sys.stdin is not None and not sys.stdin.closed:
            self._reader = asyncio.create_task(self._read_loop(), name="console-stdin")

    async def stop(self) -> None:
        """Stop reading stdin."""
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def handle_line(self, line: str) -> str | None:
        """Run one typed line as a command; return the reply text (also printed)."""
        words = line.strip().split()
        if not words or self._inbound is None:
            return None
        cmd, args = words[0].lstrip("/").lower(), words[1:]
        reply = await self._inbound.on_command(self.name, self._user, CONSOLE_CHAT, cmd, args)
        self._print(render_reply(reply))
        if reply.live is not None:
            reply.live.attach(_ConsoleLive(self._print))
        return reply.text

    async def _read_loop(self) -> None:
        # Read stdin on the event loop, not in a thread: a thread blocked in readline() would
        # keep the process from exiting on SIGTERM.
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
        if not (os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return  # /dev/null or a file (e.g. under `demo`): nothing to follow interactively
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        except (OSError, ValueError):  # e.g. a regular file: nothing to follow interactively
            return
        while line := await reader.readline():
            await self.handle_line(line.decode(errors="replace"))

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        """Print the request, the chart path and how to answer."""
        mid = str(next(self._ids))
        bar = "─" * 64
        chart = f"\nChart: {confirmation.chart_path}" if confirmation.chart_path else ""
        self._print(
            f"{bar}\n{confirmation.text}{chart}\n"
            f"Type: approve {confirmation.decision_id}  |  reject {confirmation.decision_id}\n"
            f"{bar}"
        )
        return [SentMessage(self.name, CONSOLE_CHAT, mid)]

    async def finalize(self, message: SentMessage, text: str) -> None:
        """Print the outcome (a terminal cannot edit what it printed)."""
        self._print(f"[update] {text}")

    def chats(self) -> tuple[str, ...]:
        """The one terminal."""
        return (CONSOLE_CHAT,)

    def accepts(self, event: str) -> bool:
        """The console shows everything."""
        return True

    async def send_notice(self, chat_id: str, notice: Notice) -> bool:
        """Print an alert (and its chart's path)."""
        chart = f"\nChart: {notice.image}" if notice.image else ""
        self._print(f"[alert] {notice.text}{chart}")
        return True


class _ConsoleLive:
    """A reply that goes on (a running /backtest): a terminal cannot edit what it printed, so
    each edit is printed as a ``[progress]`` line, and a further reply saying just what was
    printed last is not printed again."""

    editable = True

    def __init__(self, print_: Callable[[str], None]) -> None:
        self._print = print_
        self._last = ""

    async def edit(self, text: str) -> None:
        """Print the new state."""
        self._last = text
        self._print(f"[progress] {text}")

    async def send(self, reply: Reply) -> None:
        """Print a further reply."""
        if reply.text != self._last or reply.attachments or reply.buttons:
            self._print(render_reply(reply))


def render_reply(reply: Reply) -> str:
    """A reply as terminal text: buttons become what to type, images their paths."""
    parts = [reply.text]
    parts += [f"Chart: {path}" for path in reply.attachments]
    if reply.buttons:
        parts.append("Type: " + "  |  ".join(_typed(b) for b in reply.buttons))
    return "\n".join(parts)


def _typed(button: Button) -> str:
    return f"{button.typed}  ({button.label})" if button.typed else button.label
