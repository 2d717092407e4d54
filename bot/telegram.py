"""Telegram channel: python-telegram-bot hosted inside the caller's event loop.

Renders confirmations (chart photo + caption or photo then text, inline Approve / Reject /
chart buttons), edits them once decided, sends alerts, and forwards taps and commands to the
:class:`~bot.channel.Inbound`. Authorisation, first-tap-wins and auditing live in the service.

Telegram errors are handled per call: ``RetryAfter`` waits the given time (bounded) and retries
once, ``NetworkError`` retries with bounded exponential back-off, ``Forbidden`` (the user
blocked the bot) skips that chat. The bot token never appears in logs.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from bot.channel import Confirmation, Inbound, SentMessage
from bot.telegram_text import RedactToken, clip, parse_command, utf16_len

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_TEXT: Final = 4096
MAX_CAPTION: Final = 1024
MAX_ANSWER: Final = 200
MAX_CALLBACK_DATA: Final = 64
DEFAULT_COMMANDS: Final[tuple[tuple[str, str], ...]] = (
    ("status", "Positions, pending decisions and guards"),
    ("approve", "Approve a decision: /approve <id>"),
    ("reject", "Reject a decision: /reject <id>"),
    ("kill", "Kill switch: halt new entries (/kill flatten also closes)"),
    ("resume", "Resume trading after a kill"),
    ("guards", "News, funding and volatility guards per symbol"),
    ("guard", "Admin: /guard NAME off [DURATION] or /guard NAME on"),
    ("news", "Next news events; admin: /news add START DURATION SEVERITY TITLE"),
    ("help", "What I can do"),
)
_NOT_RETRIED = (BadRequest, Forbidden, InvalidToken, Conflict, ChatMigrated)
# Loggers known to print URLs that embed the token (PTB logs its base URLs at DEBUG).
_LEAKY_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.ext.Application",
)
Kind = Literal["text", "caption"]
_App = Application[Any, Any, Any, Any, Any, Any]


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
        commands: Sequence[tuple[str, str]] = DEFAULT_COMMANDS,
        max_retry_wait: float = 30.0,
        network_attempts: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if not token or ":" not in token:
            raise ValueError("telegram token must look like '<bot id>:<secret>'")
        if not chat_ids:
            raise ValueError("telegram needs at least one chat id")
        if not 0 <= poll_timeout <= 50:
            raise ValueError(f"poll_timeout must be 0-50 s, got {poll_timeout}")
        if network_attempts < 1 or max_retry_wait < 0 or backoff < 0:
            raise ValueError("network_attempts ≥ 1, max_retry_wait ≥ 0 and backoff ≥ 0 required")
        self._token = token
        self._base_url = base_url
        self._base_file_url = base_file_url or _file_url(base_url)
        self._chat_ids = tuple(chat_ids)
        self._poll_timeout = poll_timeout
        self._commands = tuple(commands)
        self._max_retry_wait = max_retry_wait
        self._network_attempts = network_attempts
        self._backoff = backoff
        self._app: _App | None = None
        self._inbound: Inbound | None = None
        self._kinds: dict[tuple[int, int], Kind] = {}
        self._redactor = RedactToken(token)

    def __repr__(self) -> str:
        return f"TelegramChannel(chats={list(self._chat_ids)})"

    # ----------------------------------------------------------------- lifecycle

    async def start(self, inbound: Inbound) -> None:
        """Initialise the bot (getMe), register commands and start long polling."""
        if self._app is not None:
            raise RuntimeError("telegram channel already started")
        for name in _LEAKY_LOGGERS:
            logging.getLogger(name).addFilter(self._redactor)
        self._inbound = inbound
        app = self._build_app()
        try:
            await self._retry("getMe", app.initialize)
        except InvalidToken:
            await app.bot.shutdown()
            self._remove_log_filters()
            # PTB's own message quotes the token; never let it reach a log.
            raise InvalidToken("the telegram bot token was rejected by the server") from None
        except BaseException:
            await app.bot.shutdown()
            self._remove_log_filters()
            raise
        self._app = app
        try:
            await self._register_commands()
            await app.start()
            assert app.updater is not None  # the builder makes one by default
            await app.updater.start_polling(
                timeout=self._poll_timeout,
                allowed_updates=["message", "callback_query"],
                error_callback=_log_poll_error,
            )
        except BaseException:
            await self.stop()
            raise
        log.info("telegram polling as @%s for %d chats", app.bot.username, len(self._chat_ids))

    def _build_app(self) -> _App:
        app = (
            Application.builder()
            .token(self._token)
            .base_url(self._base_url)
            .base_file_url(self._base_file_url)
            .build()
        )
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
        app.add_error_handler(self._on_error)
        return app

    def _remove_log_filters(self) -> None:
        for name in _LEAKY_LOGGERS:
            logging.getLogger(name).removeFilter(self._redactor)

    async def stop(self) -> None:
        """Stop polling (confirming fetched updates), then shut the application down."""
        app, self._app = self._app, None
        if app is not None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        self._remove_log_filters()

    # ----------------------------------------------------------------- outbound

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        """Send the chart (caption or separate text) with the inline keyboard to every chat."""
        for button in confirmation.buttons:
            if not 1 <= len(button.token.encode("utf-8")) <= MAX_CALLBACK_DATA:
                raise ValueError(f"button token must be 1-64 bytes: {button.label!r}")
        row = [InlineKeyboardButton(b.label, callback_data=b.token) for b in confirmation.buttons]
        markup = InlineKeyboardMarkup([row]) if row else None
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
                if kind is not None or "no text in the message" not in exc.message:
                    raise
                await self._edit_caption(chat, message_id, text)
        except BadRequest as exc:
            if "message is not modified" not in exc.message:
                log.warning("telegram: finalize %s in chat %s failed: %s", message_id, chat, exc)
        except TelegramError as exc:
            log.warning("telegram: finalize %s in chat %s failed: %s", message_id, chat, exc)

    async def send_alert(self, text: str) -> None:
        """Send ``text`` to every chat (failures are logged per chat)."""
        await asyncio.gather(*(self._send_text(chat, text) for chat in self._chat_ids))

    async def _confirm_in(
        self, chat: int, text: str, photo: bytes | None, markup: InlineKeyboardMarkup | None
    ) -> SentMessage | None:
        bot = self._bot()
        kind: Kind = "text"
        if photo is not None and utf16_len(text) <= MAX_CAPTION:
            kind = "caption"
            message = await self._deliver(
                chat,
                "sendPhoto",
                lambda: bot.send_photo(
                    chat, photo, caption=text, reply_markup=markup, filename="chart.png"
                ),
            )
        else:
            if photo is not None and not await self._deliver(
                chat, "sendPhoto", lambda: bot.send_photo(chat, photo, filename="chart.png")
            ):
                return None
            message = await self._send_text(chat, text, markup)
        if message is None:
            return None
        self._kinds[(chat, message.message_id)] = kind
        return SentMessage(self.name, str(chat), str(message.message_id))

    async def _send_text(
        self, chat: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message | None:
        bot = self._bot()
        return await self._deliver(
            chat,
            "sendMessage",
            lambda: bot.send_message(chat, clip(text, MAX_TEXT), reply_markup=markup),
        )

    async def _send_photo(self, chat: int, path: Path) -> None:
        photo, bot = await _read_chart(path), self._bot()
        if photo is not None:
            await self._deliver(
                chat, "sendPhoto", lambda: bot.send_photo(chat, photo, filename=path.name)
            )

    # Without ``reply_markup`` an edit drops the inline keyboard. (PTB serialises an empty
    # InlineKeyboardMarkup as ``{}``, which Telegram rejects, so never send one.)

    async def _edit_text(self, chat: int, message_id: int, text: str) -> None:
        bot = self._bot()
        await self._retry(
            "editMessageText",
            lambda: bot.edit_message_text(clip(text, MAX_TEXT), chat, message_id),
        )

    async def _edit_caption(self, chat: int, message_id: int, text: str) -> None:
        bot = self._bot()
        await self._retry(
            "editMessageCaption",
            lambda: bot.edit_message_caption(chat, message_id, caption=clip(text, MAX_CAPTION)),
        )

    async def _register_commands(self) -> None:
        bot = self._bot()
        commands = [BotCommand(name, description) for name, description in self._commands]
        try:
            await self._retry("setMyCommands", lambda: bot.set_my_commands(commands))
        except TelegramError as exc:
            log.warning("telegram: setMyCommands failed: %s", exc)

    # ----------------------------------------------------------------- inbound

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or self._inbound is None:
            return
        try:
            reply = await self._inbound.on_tap(self.name, str(query.from_user.id), query.data or "")
            text, alert = reply.text, not reply.ok
        except Exception:
            log.exception("telegram: tap handling failed")
            text, alert = "Sorry, that did not work. Please try again.", True
        try:
            await self._retry(
                "answerCallbackQuery",
                lambda: query.answer(clip(text, MAX_ANSWER), show_alert=alert),
            )
        except TelegramError as exc:
            log.warning("telegram: answerCallbackQuery failed: %s", exc)

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None or self._inbound is None:
            return
        parsed = parse_command(message.text or "", self._bot().username)
        if parsed is None:
            return
        command, args = parsed
        try:
            reply = await self._inbound.on_command(
                self.name, str(user.id), str(chat.id), command, args
            )
        except Exception:
            log.exception("telegram: /%s failed", command)
            await self._send_text(chat.id, "Sorry, that command failed.")
            return
        await self._send_text(chat.id, reply.text)
        for path in reply.attachments:
            await self._send_photo(chat.id, path)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: handler error: %r", context.error)

    # ----------------------------------------------------------------- retries

    async def _deliver(self, chat: int, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``call`` for one chat; a blocked chat or a lasting error skips it (logged)."""
        try:
            return await self._retry(what, call)
        except Forbidden as exc:
            log.warning("telegram: %s to chat %s forbidden, skipping: %s", what, chat, exc)
        except TelegramError as exc:
            log.error("telegram: %s to chat %s failed: %s", what, chat, exc)
        return None

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``RetryAfter``: wait (bounded), retry once. ``NetworkError``: bounded back-off."""
        attempt, waited = 0, False
        while True:
            try:
                return await call()
            except RetryAfter as exc:
                if waited:
                    raise
                waited = True
                delay = min(_retry_after_seconds(exc), self._max_retry_wait)
                log.warning("telegram: %s rate-limited, retrying in %.1f s", what, delay)
                await asyncio.sleep(delay)
            except _NOT_RETRIED:
                raise
            except NetworkError as exc:
                attempt += 1
                if attempt >= self._network_attempts:
                    raise
                delay = self._backoff * 2 ** (attempt - 1)
                log.warning(
                    "telegram: %s failed (%s), retry %d in %.1f s", what, exc, attempt, delay
                )
                await asyncio.sleep(delay)

    def _bot(self) -> Bot:
        if self._app is None:
            raise RuntimeError("telegram channel is not started")
        bot: Bot = self._app.bot
        return bot


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that the attribute's type will change to timedelta; accept both.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _file_url(base_url: str) -> str:
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


async def _read_chart(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        log.error("telegram: chart %s unreadable, sending text only: %s", path, exc)
        return None


def _log_poll_error(exc: TelegramError) -> None:
    log.warning("telegram: polling error: %s", exc)
