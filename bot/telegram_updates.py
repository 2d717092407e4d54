"""Where the Telegram channel's updates come from: PTB's long polling, or a webhook served by
our own aiohttp server (Telegram → TLS proxy → ``webhook_host:webhook_port/webhook_path``).

The webhook checks ``X-Telegram-Bot-Api-Secret-Token`` in constant time (the secret is
derived from the bot token and registered with ``setWebhook``), answers 200 at once and hands
the update to PTB's queue; anything else gets 403 and is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, Protocol

from aiohttp import web
from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.telegram_calls import Caller
from bot.telegram_text import RedactToken


class Inbound(Protocol):
    """Where updates go (:class:`bot.telegram.TelegramChannel`)."""

    async def on_tap(
        self, user: int, chat: int | None, message: int | None, data: str, answer: Any
    ) -> None:
        """A button press."""
        ...

    async def on_text(self, user: int, chat: int, message: int, text: str) -> None:
        """A command message."""
        ...


log = logging.getLogger("bot.telegram")
_App = Application[Any, Any, Any, Any, Any, Any]
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Loggers known to print URLs that embed the token (PTB logs its base URLs at DEBUG).
_LEAKY_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.ext.Application",
)


def webhook_secret(token: str) -> str:
    """The ``secret_token`` for ``setWebhook``: derived from the bot token, [0-9a-f]{64}."""
    return hmac.new(token.encode(), b"greenlight telegram webhook", hashlib.sha256).hexdigest()


class Updates:
    """The PTB application and its source of updates (polling or webhook)."""

    def __init__(
        self,
        token: str,
        base_url: str,
        base_file_url: str | None,
        poll_timeout: int,
        webhook: tuple[str, str, int, str] | None,
        calls: Caller,
        channel: Inbound,
    ) -> None:
        self._token = token
        self._base_url = base_url
        self._base_file_url = base_file_url or _file_url(base_url)
        self._poll_timeout = poll_timeout
        self._webhook = webhook  # (public url, listen host, listen port, path)
        self._calls = calls
        self._channel = channel
        self._app: _App | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    def bot(self) -> Bot:
        """The started application's bot."""
        if self._app is None:
            raise RuntimeError("telegram channel is not started")
        bot: Bot = self._app.bot
        return bot

    async def start(self, redactor: RedactToken) -> None:
        """Build the application and ``initialize`` it (getMe)."""
        if self._app is not None:
            raise RuntimeError("telegram channel already started")
        for name in _LEAKY_LOGGERS:
            logging.getLogger(name).addFilter(redactor)
        builder = (
            Application.builder()
            .token(self._token)
            .base_url(self._base_url)
            .base_file_url(self._base_file_url)
        )
        app = (builder.updater(None) if self._webhook else builder).build()
        app.add_handler(CallbackQueryHandler(self._on_callback))
        app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
        app.add_error_handler(_on_error)
        try:
            await self._calls.call("getMe", app.initialize)
        except BaseException:
            await app.bot.shutdown()
            _remove_filters(redactor)
            raise
        self._app = app

    async def receive(self) -> None:
        """Start the application and polling, or the webhook server and ``setWebhook``."""
        app = self._app
        assert app is not None
        await app.start()
        if self._webhook is None:
            assert app.updater is not None  # the builder makes one when polling
            await app.updater.start_polling(
                timeout=self._poll_timeout,
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_log_poll_error,
            )
            return
        url, host, port, path = self._webhook
        server = web.Application(client_max_size=1024 * 1024)
        server.router.add_post(path, self._on_webhook)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = self._runner.addresses[0][1]
        secret = webhook_secret(self._token)
        await self._calls.call(
            "setWebhook",
            lambda: app.bot.set_webhook(url, allowed_updates=ALLOWED_UPDATES, secret_token=secret),
        )

    async def stop(self, redactor: RedactToken) -> None:
        """Stop polling or the webhook server, then shut the application down (which closes
        its HTTP client)."""
        app, self._app = self._app, None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if app is not None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        _remove_filters(redactor)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), webhook_secret(self._token).encode()):
            log.warning("telegram webhook: refused a request without the secret token")
            return web.Response(status=403, text="forbidden")
        app = self._app
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, app.bot if app else None)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("telegram webhook: malformed update refused: %s", exc)
            return web.Response(status=400, text="bad update")
        if app is not None and update is not None:
            await app.update_queue.put(update)
        return web.Response(text="ok")

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        chat = message.chat.id if message is not None else None
        message_id = message.message_id if message is not None else None
        await self._channel.on_tap(
            query.from_user.id, chat, message_id, query.data or "", query.answer
        )

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        if message is None or user is None or chat is None:
            return
        await self._channel.on_text(user.id, chat.id, message.message_id, message.text or "")


def _remove_filters(redactor: RedactToken) -> None:
    for name in _LEAKY_LOGGERS:
        logging.getLogger(name).removeFilter(redactor)


def _file_url(base_url: str) -> str:
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("telegram: handler error: %r", context.error)


def _log_poll_error(exc: TelegramError) -> None:
    log.warning("telegram: polling error: %s", exc)
