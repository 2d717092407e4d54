"""The seam between the channel-neutral bot and each chat channel.

A channel adapter (console, Telegram, LINE) only renders and transports. It turns what a
person typed or tapped into calls on :class:`Inbound`, and shows what the bot asks it to show
through the :class:`Channel` methods. Who may do what, first-tap-wins and auditing live in the
bot, never in an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Action = Literal["approve", "reject"]


@dataclass(frozen=True)
class Button:
    """An inline button; ``token`` is the short opaque callback id (≤ 64 bytes). ``typed`` is
    what a text-only channel (the console) tells the person to type instead."""

    label: str
    token: str
    typed: str = ""


@dataclass(frozen=True)
class Confirmation:
    """A decision to be shown with Approve / Reject buttons."""

    decision_id: int
    text: str
    chart_path: Path | None
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class SentMessage:
    """Where a confirmation copy landed, so it can be edited later."""

    channel: str
    chat_id: str
    message_id: str


class LiveMessage(Protocol):
    """A reply a channel has shown, that the bot goes on talking into (a running
    ``/backtest``'s progress message). ``editable`` is ``False`` where the channel cannot
    edit a sent message (LINE): then only what :meth:`send` says reaches the chat."""

    editable: bool

    async def edit(self, text: str) -> None:
        """Replace the reply's text (nothing where the channel cannot edit)."""
        ...

    async def send(self, reply: Reply) -> None:
        """A further message in the same chat (threaded to the command where possible)."""
        ...


class Followup(Protocol):
    """Work that goes on after its reply was shown: the channel hands it the shown reply."""

    def attach(self, message: LiveMessage) -> None:
        """The reply carrying this follow-up is shown as ``message``."""
        ...


@dataclass(frozen=True)
class Reply:
    """What the bot answers to a tap or a command."""

    text: str
    ok: bool = True
    # Images for the same chat (a chart for /chart, the equity curve for /pnl), sent with or
    # after ``text``.
    attachments: tuple[Path, ...] = field(default_factory=tuple)
    # Buttons under the reply (a confirmation for /kill, a picker for a missing argument).
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    # Work that goes on after the reply (a /backtest's progress and result): every channel,
    # once it has shown the reply, calls ``live.attach`` with a :class:`LiveMessage`.
    live: Followup | None = None


@dataclass(frozen=True)
class Notice:
    """An alert, a group of alerts or a summary for one chat: text and an optional chart.
    ``silent`` delivers it without a notification sound where the channel can."""

    text: str
    image: Path | None = None
    silent: bool = False


class Inbound(Protocol):
    """What a channel may ask of the bot."""

    async def on_tap(self, channel: str, user_id: str, token: str, chat_id: str = "") -> Reply:
        """A button was tapped in ``chat_id``; ``token`` is the button's callback id."""
        ...

    async def on_command(
        self, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
    ) -> Reply:
        """A command such as ``status``, ``kill``, ``approve 12`` was sent."""
        ...

    async def on_refused(self, channel: str, what: str, detail: dict[str, object]) -> None:
        """A request was refused before it reached a person's identity (e.g. a forged
        webhook): audit it."""
        ...


class Channel(Protocol):
    """A chat transport. Implementations: console, Telegram, LINE."""

    name: str

    async def start(self, inbound: Inbound) -> None:
        """Connect and begin delivering taps and commands to ``inbound``."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release every resource (sessions, servers)."""
        ...

    def chats(self) -> tuple[str, ...]:
        """The chats this channel serves with confirmations and team alerts."""
        ...

    def accepts(self, event: str) -> bool:
        """Whether this channel carries ``event`` (``confirmation``, ``outcome``, ``kill`` …)."""
        ...

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        """Show a confirmation (text, chart, buttons) in every chat this channel serves."""
        ...

    async def finalize(self, message: SentMessage, text: str) -> None:
        """Replace a confirmation's text with the outcome and remove its buttons (or, where a
        channel cannot edit, say the outcome)."""
        ...

    async def send_notice(self, chat_id: str, notice: Notice) -> bool:
        """Deliver ``notice`` to one chat; ``False`` if it could not be delivered."""
        ...
