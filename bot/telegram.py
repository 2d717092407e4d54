"""Telegram channel: python-telegram-bot hosted inside the caller's event loop.

Renders confirmations (chart photo + caption or photo then text, inline Approve / Reject
buttons), edits them once decided, sends alerts, and forwards taps and commands to the
:class:`~bot.channel.Inbound`. Authorisation, first-tap-wins and auditing live in the bot.

Updates arrive by long polling, or by webhook (``mode="webhook"``: Telegram posts to the
public ``webhook_url`` that a TLS proxy forwards to :mod:`bot.telegram_webhook`). A tap is
answered within ``answer_within`` seconds whatever the router does; replies to commands are
threaded to the command. Calls go through :class:`bot.telegram_calls.Caller` (one flood gate
for the whole bot). The bot token never appears in logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.error import BadRequest, InvalidToken, TelegramError

from bot.channel import Button, Confirmation, Inbound, Notice, Reply, SentMessage
from bot.telegram_calls import Caller, no_text, not_modified
from bot.telegram_menus import CommandRow, menus
from bot.telegram_text import RedactToken, clip, parse_command, utf16_len
from bot.telegram_updates import Updates
from greenlight.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)
MAX_TEXT: Final = 4096
MAX_CAPTION: Final = 1024
MAX_ANSWER: Final = 200
MAX_CALLBACK_DATA: Final = 64
DEFAULT_COMMANDS: Final[tuple[CommandRow, ...]] = (
    ("status", "viewer", "Mode, trading on/off, equity, positions"),
    ("help", "viewer", "What you can do here"),
    ("whoami", "viewer", "Your ids and role"),
)
Kind = Literal["text", "caption"]
__all__ = ["TelegramChannel", "clip", "parse_command"]


class TelegramChannel:
    """The Telegram :class:`~bot.channel.Channel`."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        base_url: str,
        chat_ids: Sequence[int],
        poll_timeout: int = 10,
        *,
        base_file_url: str | None = None,
        commands: Sequence[CommandRow] = DEFAULT_COMMANDS,
        users: Sequence[tuple[str, str]] = (),
        max_retry_wait: float = 30.0,
        network_attempts: int = 3,
        backoff: float = 0.5,
        answer_within: float = 0.5,
        webhook: tuple[str, str, int, str] | None = None,
        clock: Clock = SystemClock(),
    ) -> None:
        if not token or ":" not in token:
            raise ValueError("telegram token must look like '<bot id>:<secret>'")
        if not chat_ids:
            raise ValueError("telegram needs at least one chat id")
        if not 0 <= poll_timeout <= 50:
            raise ValueError(f"poll_timeout must be 0-50 s, got {poll_timeout}")
        self._calls = Caller(max_retry_wait, network_attempts, backoff, clock)
        self._chat_ids = tuple(chat_ids)
        self._commands = tuple(commands)
        self._users = tuple(users)
        self._answer_within = answer_within
        self._updates = Updates(
            token, base_url, base_file_url, poll_timeout, webhook, self._calls, self
        )
        self._inbound: Inbound | None = None
        self._kinds: dict[tuple[int, int], Kind] = {}
        self._redactor = RedactToken(token)

    def __repr__(self) -> str:
        return f"TelegramChannel(chats={list(self._chat_ids)})"

    # ----------------------------------------------------------------- lifecycle

    async def start(self, inbound: Inbound) -> None:
        """Initialise the bot (getMe), register the command menus, start receiving."""
        self._inbound = inbound
        try:
            await self._updates.start(self._redactor)
        except InvalidToken:
            # PTB's own message quotes the token; never let it reach a log.
            raise InvalidToken("the telegram bot token was rejected by the server") from None
        try:
            await self._register_commands()
            await self._updates.receive()
        except BaseException:
            await self.stop()
            raise
        log.info("telegram serving %d chats", len(self._chat_ids))

    async def stop(self) -> None:
        """Stop receiving (confirming fetched updates), shut down, close HTTP sessions."""
        await self._updates.stop(self._redactor)

    @property
    def webhook_port(self) -> int:
        """The port the webhook server listens on (0 when polling)."""
        return self._updates.port

    def chats(self) -> tuple[str, ...]:
        """The configured chat ids."""
        return tuple(str(c) for c in self._chat_ids)

    def accepts(self, event: str) -> bool:
        """Telegram carries every event (each chat mutes what it does not want)."""
        return True

    # ----------------------------------------------------------------- outbound

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        """Send the chart (caption or separate text) with the inline keyboard to every chat."""
        markup = _markup(confirmation.buttons)
        photo = await _read_chart(confirmation.chart_path)
        sent = await asyncio.gather(
            *(self._confirm_in(chat, confirmation.text, photo, markup) for chat in self._chat_ids)
        )
        return [s for s in sent if s is not None]

    async def finalize(self, message: SentMessage, text: str) -> None:
        """Replace a confirmation's text (or caption) with ``text`` and drop its buttons."""
        if message.channel != self.name:
            raise ValueError(f"not a telegram message: {message.channel!r}")
        chat, message_id = int(message.chat_id), int(message.message_id)
        kind = self._kinds.pop((chat, message_id), None)
        try:
            if kind == "caption":
                await self._edit_caption(chat, message_id, text)
                return
            try:
                await self._edit_text(chat, message_id, text)
            except BadRequest as exc:
                # After a restart we no longer know which kind a message is: try the other.
                if kind is not None or not no_text(exc):
                    raise
                await self._edit_caption(chat, message_id, text)
        except BadRequest as exc:
            if not not_modified(exc):
                log.warning("telegram: finalize %s in chat %s failed: %s", message_id, chat, exc)
        except TelegramError as exc:
            log.warning("telegram: finalize %s in chat %s failed: %s", message_id, chat, exc)

    async def send_notice(self, chat_id: str, notice: Notice) -> bool:
        """An alert (with its chart as a photo) in one chat."""
        reply = Reply(notice.text, attachments=(notice.image,) if notice.image else ())
        return await self.send_reply(int(chat_id), reply, silent=notice.silent)

    async def send_reply(
        self, chat: int, reply: Reply, to_message: int | None = None, silent: bool = False
    ) -> bool:
        """Text (threaded to ``to_message``), buttons, and images: the first image carries
        the text as caption when it fits. A reply that goes on (``reply.live``) is handed
        the sent message, which it may edit."""
        sent = await self._send_reply(chat, reply, to_message, silent)
        if reply.live is not None:
            message_id = sent.message_id if sent is not None else None
            reply.live.attach(_LiveMessage(self, chat, message_id, to_message))
        return sent is not None

    async def _send_reply(
        self, chat: int, reply: Reply, to_message: int | None, silent: bool
    ) -> Message | None:
        bot, markup = self._bot(), _markup(reply.buttons)
        thread = (
            ReplyParameters(to_message, allow_sending_without_reply=True) if to_message else None
        )
        common: dict[str, Any] = {"reply_parameters": thread, "disable_notification": silent}
        photos = [p for p in [await _read_chart(a) for a in reply.attachments] if p is not None]
        text = clip(reply.text, MAX_TEXT)

        async def photo(data: bytes, caption: str | None, keys: Any) -> Message:
            return await bot.send_photo(
                chat, data, caption=caption, reply_markup=keys, filename="chart.png", **common
            )

        async def message() -> Message:
            return await bot.send_message(chat, text, reply_markup=markup, **common)

        sent: Message | None
        if photos and utf16_len(reply.text) <= MAX_CAPTION:
            first = photos.pop(0)
            sent = await self._calls.deliver(chat, "sendPhoto", lambda: photo(first, text, markup))
        else:
            sent = await self._calls.deliver(chat, "sendMessage", message)
        for data in photos:
            await self._calls.deliver(chat, "sendPhoto", partial(photo, data, None, None))
        return sent

    async def _confirm_in(
        self, chat: int, text: str, photo: bytes | None, markup: InlineKeyboardMarkup | None
    ) -> SentMessage | None:
        bot = self._bot()
        kind: Kind = "text"
        if photo is not None and utf16_len(text) <= MAX_CAPTION:
            kind = "caption"
            message = await self._calls.deliver(
                chat,
                "sendPhoto",
                lambda: bot.send_photo(
                    chat, photo, caption=text, reply_markup=markup, filename="chart.png"
                ),
            )
        else:
            if photo is not None and not await self._calls.deliver(
                chat, "sendPhoto", lambda: bot.send_photo(chat, photo, filename="chart.png")
            ):
                return None
            message = await self._calls.deliver(
                chat,
                "sendMessage",
                lambda: bot.send_message(chat, clip(text, MAX_TEXT), reply_markup=markup),
            )
        if message is None:
            return None
        self._kinds[(chat, message.message_id)] = kind
        return SentMessage(self.name, str(chat), str(message.message_id))

    # Without ``reply_markup`` an edit drops the inline keyboard. (PTB serialises an empty
    # InlineKeyboardMarkup as ``{}``, which Telegram rejects, so never send one.)

    async def edit_text(self, chat: int, message_id: int, text: str) -> None:
        """Replace a text message's text (keeping no buttons); "not modified" and errors that
        retrying cannot fix are logged, never raised."""
        try:
            await self._edit_text(chat, message_id, text)
        except BadRequest as exc:
            if not not_modified(exc):
                log.warning("telegram: edit %s in chat %s failed: %s", message_id, chat, exc)
        except TelegramError as exc:
            log.warning("telegram: edit %s in chat %s failed: %s", message_id, chat, exc)

    async def _edit_text(self, chat: int, message_id: int, text: str) -> None:
        bot = self._bot()
        await self._calls.call(
            "editMessageText",
            lambda: bot.edit_message_text(clip(text, MAX_TEXT), chat, message_id),
        )

    async def _edit_caption(self, chat: int, message_id: int, text: str) -> None:
        bot = self._bot()
        await self._calls.call(
            "editMessageCaption",
            lambda: bot.edit_message_caption(chat, message_id, caption=clip(text, MAX_CAPTION)),
        )

    async def _register_commands(self) -> None:
        bot = self._bot()
        for scope, commands in menus(self._commands, self._users, self._chat_ids):
            try:
                await self._calls.call(
                    "setMyCommands", partial(bot.set_my_commands, commands, scope)
                )
            except TelegramError as exc:
                log.warning("telegram: setMyCommands (%s) failed: %s", scope, exc)

    # ----------------------------------------------------------------- inbound

    async def on_tap(
        self, user: int, chat: int | None, message: int | None, data: str, answer: Any
    ) -> None:
        """A button: answer within ``answer_within`` s, then say the rest in the chat.

        A command button (``/kill confirm``, a picker) is answered at once and its reply is
        threaded to the message that carried the button, whose buttons are removed. An
        Approve / Reject is answered with its outcome when that comes in time, otherwise
        with "working on it", and the outcome follows in the chat.
        """
        if self._inbound is None:
            return
        work = asyncio.create_task(
            self._inbound.on_tap(self.name, str(user), data, str(chat or ""))
        )
        command = data.startswith("m.")
        if not command:
            await asyncio.wait({work}, timeout=self._answer_within)
        if work.done() and not command and _fits_answer(work):
            reply = work.result()
            await self._answer(answer, reply.text, not reply.ok)
            return
        waiting = not command and not work.done()
        await self._answer(answer, "⏳ Working on it…" if waiting else "", False)
        try:
            reply = await work
        except Exception:
            log.exception("telegram: tap handling failed")
            reply = Reply("Sorry, that did not work. Please try again.", ok=False)
        if chat is not None:
            if command and reply.ok and message is not None:
                await self._drop_buttons(chat, message)
            await self.send_reply(chat, reply, to_message=message)

    async def _answer(self, answer: Any, text: str, alert: bool) -> None:
        try:
            await self._calls.call(
                "answerCallbackQuery", lambda: answer(clip(text, MAX_ANSWER), show_alert=alert)
            )
        except TelegramError as exc:
            log.warning("telegram: answerCallbackQuery failed: %s", exc)

    async def _drop_buttons(self, chat: int, message: int) -> None:
        bot = self._bot()
        try:
            await self._calls.call(
                "editMessageReplyMarkup", lambda: bot.edit_message_reply_markup(chat, message)
            )
        except TelegramError as exc:
            log.info("telegram: buttons of %s not removed: %s", message, exc)

    async def on_text(self, user: int, chat: int, message: int, text: str) -> None:
        """A command: run it, reply threaded to it."""
        if self._inbound is None:
            return
        parsed = parse_command(text, self._bot().username)
        if parsed is None:
            return
        command, args = parsed
        try:
            reply = await self._inbound.on_command(self.name, str(user), str(chat), command, args)
        except Exception:
            log.exception("telegram: /%s failed", command)
            reply = Reply("Sorry, that command failed.", ok=False)
        await self.send_reply(chat, reply, to_message=message)

    def _bot(self) -> Bot:
        return self._updates.bot()


class _LiveMessage:
    """A sent reply the bot goes on talking into: edited with ``editMessageText``; further
    replies are threaded to the command (``thread_to``)."""

    editable = True

    def __init__(
        self, channel: TelegramChannel, chat: int, message_id: int | None, thread_to: int | None
    ) -> None:
        self._channel = channel
        self._chat = chat
        self._message_id = message_id
        self._thread_to = thread_to

    async def edit(self, text: str) -> None:
        """Replace the reply's text (nothing when the reply could not be sent)."""
        if self._message_id is not None:
            await self._channel.edit_text(self._chat, self._message_id, text)

    async def send(self, reply: Reply) -> None:
        """A further reply in the chat, threaded to the command."""
        await self._channel.send_reply(self._chat, reply, to_message=self._thread_to)


def _fits_answer(work: asyncio.Task[Reply]) -> bool:
    if work.exception() is not None:
        return False
    reply = work.result()
    short = len(reply.text) <= MAX_ANSWER and reply.live is None
    return short and not reply.attachments and not reply.buttons


def _markup(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    for button in buttons:
        if not 1 <= len(button.token.encode("utf-8")) <= MAX_CALLBACK_DATA:
            raise ValueError(f"button token must be 1-64 bytes: {button.label!r}")
    row = [InlineKeyboardButton(b.label, callback_data=b.token) for b in buttons]
    # More than three buttons (a picker) go two per row, so labels stay readable on a phone.
    rows = [row] if len(row) <= 3 else [row[i : i + 2] for i in range(0, len(row), 2)]
    return InlineKeyboardMarkup(rows) if row else None


async def _read_chart(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        log.error("telegram: chart %s unreadable, sending text only: %s", path, exc)
        return None
