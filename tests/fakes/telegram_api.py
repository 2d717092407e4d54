"""A faithful local fake of the Telegram Bot API (spec §5) for driving the real PTB adapter.

It serves ``/bot<token>/<method>`` on 127.0.0.1 with the real envelopes, status codes, error
texts and limits, keeps everything in memory, and gives tests a Python side to inject user
messages and button taps, read what the bot sent, and script failures::

    api = FakeTelegramApi(chats=[100])
    await api.start()
    Application.builder().token(api.token).base_url(api.base_url)...
    api.inject_message(100, 7, "/status")
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, web

from tests.fakes.telegram_objects import (
    MAX_CALLBACK_ANSWER,
    MAX_CALLBACK_DATA_BYTES,
    MAX_PHOTO_BYTES,
    AnsweredCallback,
    ApiError,
    BotMessage,
    Call,
    Params,
    bad_request,
    check_commands,
    envelope_error,
    read_params,
    user_json,
)
from tests.fakes.telegram_store import ChatStore, FloodControl
from tests.fakes.telegram_updates import UpdateQueue

DEFAULT_TOKEN = "123456789:AAF4keT0kenForGreenlightTests-0123456"
_TOKEN_RE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,}")
Handler = Callable[[Params], Awaitable[Any]]


@dataclass
class _ScriptedError:
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None


class FakeTelegramApi:
    """In-memory Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        chats: Iterable[int] = (),
        bot_username: str = "greenlight_test_bot",
        flood: FloodControl | None = None,
    ) -> None:
        if not _TOKEN_RE.fullmatch(token):
            raise ValueError("token must look like '<digits>:<30+ url-safe chars>'")
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Greenlight",
            "username": bot_username,
        }
        self.calls: list[Call] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.menus: dict[str, list[dict[str, str]]] = {}  # scope (JSON) → commands
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_target: str | None = None  # where updates really go (the TLS proxy's job)
        self.webhook_responses: list[int] = []
        self.updates = UpdateQueue()
        self.store = ChatStore(self.bot_user, flood)
        self._open_queries: set[str] = set()
        self._scripted: dict[str, list[_ScriptedError]] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, fn)
            for name, fn in [
                ("getMe", self._get_me),
                ("deleteWebhook", self._delete_webhook),
                ("setWebhook", self._set_webhook),
                ("getWebhookInfo", self._get_webhook_info),
                ("getUpdates", self._get_updates),
                ("sendMessage", self._send_message),
                ("sendPhoto", self._send_photo),
                ("editMessageText", self._edit_message_text),
                ("editMessageCaption", self._edit_message_caption),
                ("editMessageReplyMarkup", self._edit_message_reply_markup),
                ("answerCallbackQuery", self._answer_callback_query),
                ("setMyCommands", self._set_my_commands),
                ("getMyCommands", self._get_my_commands),
                ("getFile", self._get_file),
            ]
        }
        for chat_id in chats:
            self.add_chat(chat_id)

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on ``port`` of 127.0.0.1 (0: a free one)."""
        app = web.Application(client_max_size=MAX_PHOTO_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # A long poll whose client went away must not linger and steal the next updates.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the server (pending long polls are cancelled)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url`` (the token is appended by PTB)."""
        return f"http://127.0.0.1:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for PTB's ``base_file_url``."""
        return f"http://127.0.0.1:{self._port}/file/bot"

    # ----------------------------------------------------------------- test side

    def add_chat(self, chat_id: int, chat_type: str | None = None) -> None:
        """Make a chat known (negative ids are groups unless told otherwise)."""
        self.store.add_chat(chat_id, chat_type)

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to ``chat_id`` fails with 403 from now on."""
        self.store.blocked.add(chat_id)

    def inject_message(self, chat_id: int, user_id: int, text: str) -> int:
        """A user writes ``text`` in ``chat_id``; returns the update id."""
        self.add_chat(chat_id)
        message: dict[str, Any] = {
            "message_id": self.store.new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.store.chats[chat_id],
            "from": user_json(user_id),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.updates.push("message", message)

    def inject_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """A user taps a button carrying ``data`` under a bot message; returns the query id."""
        stored = self.store.messages.get((chat_id, message_id))
        if stored is None:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise ValueError("callback data must be 1-64 bytes")
        query_id = str(uuid.uuid4().int % 10**18)
        self._open_queries.add(query_id)
        self.updates.push(
            "callback_query",
            {
                "id": query_id,
                "from": user_json(user_id),
                "chat_instance": str(abs(chat_id) * 7919 % 10**12),
                "message": self.store.message_json(stored),
                "data": data,
            },
        )
        return query_id

    def sent(self, chat_id: int | None = None) -> list[BotMessage]:
        """Messages the bot sent (optionally in one chat), oldest first, with their edits."""
        return [m for m in self.store.messages.values() if chat_id is None or m.chat_id == chat_id]

    def calls_of(self, method: str) -> list[Call]:
        """Requests received for ``method`` (case-insensitive), including failed ones."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def script_error(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id``, if given) fail."""
        if method.lower() not in self._methods:
            raise ValueError(f"unknown Bot API method {method!r}")
        if not 400 <= status <= 599 or times < 1:
            raise ValueError("status must be 4xx/5xx and times ≥ 1")
        entry = _ScriptedError(status, description, retry_after, times, chat_id)
        self._scripted.setdefault(method.lower(), []).append(entry)

    # ----------------------------------------------------------------- HTTP plumbing

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"].lower()
        if not _TOKEN_RE.fullmatch(token):
            return envelope_error(ApiError(404, "Not Found"))
        if token != self.token:
            return envelope_error(ApiError(401, "Unauthorized"))
        if method not in self._methods:
            return envelope_error(ApiError(404, "Not Found"))
        name, handler = self._methods[method]
        try:
            params = await read_params(request)
            self.calls.append(Call(name, params.loggable()))
            self._raise_scripted(method, params)
            result = await handler(params)
        except ApiError as err:
            return envelope_error(err)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return envelope_error(ApiError(401, "Unauthorized"))
        for stored in self.store.files.values():
            if stored.file_path == request.match_info["path"]:
                return web.Response(body=stored.data, content_type="image/png")
        return envelope_error(ApiError(404, "Not Found"))

    def _raise_scripted(self, method: str, params: Params) -> None:
        queue = self._scripted.get(method, [])
        chat = params.raw.get("chat_id")
        for entry in queue:
            if entry.chat_id is None or str(entry.chat_id) == str(chat):
                entry.remaining -= 1
                if entry.remaining == 0:
                    queue.remove(entry)
                extra = {"retry_after": entry.retry_after} if entry.retry_after else None
                raise ApiError(entry.status, entry.description, extra)

    # ----------------------------------------------------------------- methods

    async def _get_me(self, p: Params) -> Any:
        return {**self.bot_user, "can_join_groups": True, "supports_inline_queries": False}

    async def _delete_webhook(self, p: Params) -> Any:
        self.webhook_url = ""
        if p.boolean("drop_pending_updates"):
            self.updates.clear()
        return True

    async def _set_webhook(self, p: Params) -> Any:
        url = p.string("url") or ""
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.string("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        self.webhook_url, self.webhook_secret = url, secret
        return True

    async def deliver_webhook(self, session: ClientSession, secret: str | None = None) -> int:
        """POST every pending update to ``webhook_target`` as Telegram would (with the
        registered secret header, or ``secret`` to forge one); confirmed updates are dropped.
        Returns how many the bot accepted with 200."""
        if not self.webhook_url or self.webhook_target is None:
            raise ValueError("no webhook set, or no webhook_target to deliver to")
        header = self.webhook_secret if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
        accepted = 0
        for update in list(self.updates.pending):
            async with session.post(self.webhook_target, json=update, headers=headers) as resp:
                self.webhook_responses.append(resp.status)
                if resp.status == 200:
                    self.updates.pending.remove(update)
                    self.updates.delivered.append(update["update_id"])
                    accepted += 1
        return accepted

    async def _get_webhook_info(self, p: Params) -> Any:
        pending = len(self.updates.pending)
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }

    async def _get_updates(self, p: Params) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        allowed = p.json("allowed_updates")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed)
        ):
            raise bad_request("can't parse allowed_updates JSON object")
        return await self.updates.poll(
            offset=p.integer("offset", default=0),
            limit=p.integer("limit", default=100),
            timeout=p.integer("timeout", default=0),
            allowed=allowed,
        )

    async def _send_message(self, p: Params) -> Any:
        return self.store.send_message(p)

    async def _send_photo(self, p: Params) -> Any:
        return self.store.send_photo(p)

    async def _edit_message_text(self, p: Params) -> Any:
        return self.store.edit(p, "editMessageText")

    async def _edit_message_caption(self, p: Params) -> Any:
        return self.store.edit(p, "editMessageCaption")

    async def _edit_message_reply_markup(self, p: Params) -> Any:
        return self.store.edit(p, "editMessageReplyMarkup")

    async def _answer_callback_query(self, p: Params) -> Any:
        query_id = p.string("callback_query_id", required=True) or ""
        text = p.string("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        if query_id not in self._open_queries:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._open_queries.discard(query_id)
        self.answered_callbacks.append(AnsweredCallback(query_id, text, p.boolean("show_alert")))
        return True

    async def _set_my_commands(self, p: Params) -> Any:
        self.menus[_scope_key(p.json("scope"))] = check_commands(p.json("commands"))
        return True

    async def _get_my_commands(self, p: Params) -> Any:
        return self.menus.get(_scope_key(p.json("scope")), [])

    @property
    def commands(self) -> list[dict[str, str]]:
        """The default-scope menu."""
        return self.menus.get(_scope_key(None), [])

    def menu(self, scope: dict[str, Any]) -> list[str]:
        """Command names registered for ``scope`` (e.g. ``{"type": "chat", "chat_id": 7}``)."""
        return [c["command"] for c in self.menus.get(_scope_key(scope), [])]

    async def _get_file(self, p: Params) -> Any:
        stored = self.store.files.get(p.string("file_id", required=True) or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


def _scope_key(scope: Any) -> str:
    if scope is None or scope == {"type": "default"}:
        return "default"
    return json.dumps(scope, sort_keys=True)
