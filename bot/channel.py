"""The seam between the channel-neutral approval service and each chat channel.

A channel adapter (console, Telegram, LINE) only renders and transports. It turns what a
person typed or tapped into calls on :class:`Inbound`, and shows what the service asks it to
show through the :class:`Channel` methods. Who may do what, first-tap-wins and auditing live in
the service, never in an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Action = Literal["approve", "reject"]


@dataclass(frozen=True)
class Button:
    """An inline button; ``token`` is the short opaque callback id (≤ 64 bytes)."""

    label: str
    token: str


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


@dataclass(frozen=True)
class Reply:
    """What the service answers to a tap or a command."""

    text: str
    ok: bool = True
    # Extra messages for the same chat (e.g. a chart path for /chart), shown after ``text``.
    attachments: tuple[Path, ...] = field(default_factory=tuple)


class Inbound(Protocol):
    """What a channel may ask of the approval service."""

    async def on_tap(self, channel: str, user_id: str, token: str) -> Reply:
        """A button was tapped; ``token`` is the button's callback id."""
        ...

    async def on_command(
        self, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
    ) -> Reply:
        """A command such as ``status``, ``kill``, ``resume``, ``approve 12`` was sent."""
        ...


class Channel(Protocol):
    """A chat transport. Implementations: console, Telegram, LINE."""

    name: str

    async def start(self, inbound: Inbound) -> None:
        """Connect and begin delivering taps and commands to ``inbound``."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release resources."""
        ...

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        """Show a confirmation (text, chart, buttons) in every chat this channel serves."""
        ...

    async def finalize(self, message: SentMessage, text: str) -> None:
        """Replace a confirmation's text with the outcome and remove its buttons."""
        ...

    async def send_alert(self, text: str) -> None:
        """Send a short alert to every chat this channel serves."""
        ...
