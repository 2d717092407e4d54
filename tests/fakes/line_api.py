"""A faithful local fake of the LINE Messaging API (spec §6) for driving line-bot-sdk v3.

Serves reply, push, multicast and quota endpoints on 127.0.0.1 with the real auth rule
(Bearer channel access token → 401), body validation (400 with ``details``), single-use
reply tokens that expire (400 ``Invalid reply token``), push retry keys (409 with
``X-Line-Accepted-Request-Id``), the monthly quota (429 ``You have reached your monthly
limit.``), ``X-Line-Request-Id`` on every answer, and scriptable 400/401/403/429/5xx. The test
side issues reply tokens for the webhook events it sends (:mod:`tests.fakes.line_webhook`)
and reads what the bot sent to each chat::

    api = FakeLineApi()
    await api.start()
    Configuration(access_token=api.access_token, host=api.base_url)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.line_checks import (
    MAX_MULTICAST,
    TO_RE,
    USER_RE,
    LineApiError,
    Problems,
    check_messages,
)

DEFAULT_ACCESS = "fake-line-channel-access-token-0123456789abcdef"
Handler = Callable[[web.Request, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class Delivered:
    """Messages the bot sent to one chat by one call."""

    via: str  # reply | push | multicast
    to: str
    messages: list[dict[str, Any]]
    silent: bool
    at: float = field(default_factory=time.monotonic)

    def texts(self) -> list[str]:
        """Text messages, and a Flex message's alt text."""
        return [m.get("text") or m.get("altText") or "" for m in self.messages]

    def postbacks(self) -> list[str]:
        """Every postback ``data`` in these messages (buttons and quick replies)."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "postback" and "data" in node:
                    found.append(node["data"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(self.messages)
        return found

    def image_urls(self) -> list[str]:
        """Image URLs (image messages and Flex images)."""
        urls: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key in ("originalContentUrl", "url"):
                    if isinstance(node.get(key), str) and node.get("type") in ("image", None):
                        urls.append(node[key])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(self.messages)
        return list(dict.fromkeys(urls))


@dataclass
class _Scripted:
    status: int
    message: str
    remaining: int


class FakeLineApi:
    """In-memory Messaging API server; see the module docstring."""

    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS,
        reply_ttl_s: float = 60.0,
        quota: int | None = None,
    ) -> None:
        self.access_token = access_token
        self.reply_ttl_s = reply_ttl_s
        self.quota = quota  # monthly push/multicast target limit (None: no limit)
        self.consumed = 0
        self.delivered: list[Delivered] = []
        self.requests: list[tuple[str, int]] = []  # (path, status) of every request
        self._reply_tokens: dict[str, tuple[str, float]] = {}  # token → (chat, issued)
        self._used_tokens: set[str] = set()
        self._retry_keys: dict[str, str] = {}  # accepted retry key → request id
        self._scripted: dict[str, list[_Scripted]] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=2 * 1024 * 1024)
        routes: dict[str, Handler] = {
            "/v2/bot/message/reply": self._reply,
            "/v2/bot/message/push": self._push,
            "/v2/bot/message/multicast": self._multicast,
        }
        for path, handler in routes.items():
            app.router.add_post(path, self._wrap(path, handler))
        app.router.add_get("/v2/bot/message/quota", self._wrap("/quota", self._quota))
        app.router.add_get(
            "/v2/bot/message/quota/consumption", self._wrap("/consumption", self._consumption)
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """The value for ``Configuration(host=...)``."""
        return f"http://127.0.0.1:{self._port}"

    # ----------------------------------------------------------------- test side

    def issue_reply_token(self, chat: str, age_s: float = 0.0) -> str:
        """A reply token for an event in ``chat`` (``age_s``: issued that long ago)."""
        token = uuid.uuid4().hex
        self._reply_tokens[token] = (chat, time.monotonic() - age_s)
        return token

    def script_error(self, path: str, status: int, message: str, times: int = 1) -> None:
        """Make the next ``times`` calls of ``reply`` / ``push`` / ``multicast`` fail."""
        if not 400 <= status <= 599 or times < 1:
            raise ValueError("status must be 4xx/5xx and times ≥ 1")
        self._scripted.setdefault(path, []).append(_Scripted(status, message, times))

    def to(self, chat: str) -> list[Delivered]:
        """What reached ``chat`` (a multicast counts for each of its users), oldest first."""
        return [d for d in self.delivered if d.to == chat]

    # ----------------------------------------------------------------- plumbing

    def _wrap(
        self, path: str, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        name = path.rsplit("/", 1)[-1]

        async def serve(request: web.Request) -> web.Response:
            request_id = str(uuid.uuid4())
            headers = {"X-Line-Request-Id": request_id}
            try:
                self._auth(request)
                self._raise_scripted(name)
                body = await _json_body(request) if request.method == "POST" else {}
                result = await handler(request, body)
            except LineApiError as err:
                headers.update(err.headers)
                self.requests.append((name, err.status))
                return web.json_response(err.body(), status=err.status, headers=headers)
            self.requests.append((name, 200))
            return web.json_response(result, headers=headers)

        return serve

    def _auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            raise LineApiError(
                401,
                "Authentication failed due to the following reason: invalid token. Confirm"
                " that the access token in the authorization header is valid.",
            )

    def _raise_scripted(self, name: str) -> None:
        queue = self._scripted.get(name, [])
        if queue:
            entry = queue[0]
            entry.remaining -= 1
            if entry.remaining == 0:
                queue.pop(0)
            raise LineApiError(entry.status, entry.message)

    def _charge(self, recipients: int) -> None:
        if self.quota is not None and self.consumed + recipients > self.quota:
            raise LineApiError(429, "You have reached your monthly limit.")
        self.consumed += recipients

    def _retry_key(self, request: web.Request) -> str | None:
        key = request.headers.get("X-Line-Retry-Key")
        if key is None:
            return None
        try:
            uuid.UUID(key)
        except ValueError:
            raise LineApiError(400, "The retry key is not a valid UUID") from None
        if key in self._retry_keys:
            accepted = {"X-Line-Accepted-Request-Id": self._retry_keys[key]}
            raise LineApiError(409, "The retry key is already accepted", headers=accepted)
        return key

    # ----------------------------------------------------------------- endpoints

    async def _reply(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        p = Problems()
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            p.add("replyToken", "May not be empty")
        check_messages(body.get("messages"), p)
        p.raise_if_any()
        issued = self._reply_tokens.get(str(token))
        fresh = issued is not None and time.monotonic() - issued[1] <= self.reply_ttl_s
        if issued is None or token in self._used_tokens or not fresh:
            raise LineApiError(400, "Invalid reply token")
        self._used_tokens.add(str(token))
        silent = bool(body.get("notificationDisabled"))
        self.delivered.append(Delivered("reply", issued[0], body["messages"], silent))
        return {"sentMessages": [{"id": _message_id()} for _ in body["messages"]]}

    async def _push(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        key = self._retry_key(request)
        p = Problems()
        to = body.get("to")
        if not isinstance(to, str) or not TO_RE.fullmatch(to):
            p.add("to", "Invalid user, group or room id")
        check_messages(body.get("messages"), p)
        p.raise_if_any()
        self._charge(1)
        silent = bool(body.get("notificationDisabled"))
        self.delivered.append(Delivered("push", str(to), body["messages"], silent))
        return self._accepted(
            key, {"sentMessages": [{"id": _message_id()} for _ in body["messages"]]}
        )

    async def _multicast(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        key = self._retry_key(request)
        p = Problems()
        to = body.get("to")
        if not isinstance(to, list) or not 1 <= len(to) <= MAX_MULTICAST:
            p.add("to", f"Size must be between 1 and {MAX_MULTICAST}")
        elif not all(isinstance(u, str) and USER_RE.fullmatch(u) for u in to):
            p.add("to", "Only user ids may be multicast to")
        check_messages(body.get("messages"), p)
        p.raise_if_any()
        self._charge(len(to))
        silent = bool(body.get("notificationDisabled"))
        for user in to:
            self.delivered.append(Delivered("multicast", user, body["messages"], silent))
        return self._accepted(key, {})

    def _accepted(self, key: str | None, result: dict[str, Any]) -> dict[str, Any]:
        if key is not None:
            request_id = str(uuid.uuid4())
            self._retry_keys[key] = request_id
        return result

    async def _quota(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        if self.quota is None:
            return {"type": "none"}
        return {"type": "limited", "value": self.quota}

    async def _consumption(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"totalUsage": self.consumed}


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise LineApiError(415, f"The content type, {request.content_type}, is not supported")
    raw = await request.text()
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LineApiError(
            400,
            f"The request body could not be parsed as JSON (line: {exc.lineno}, column: "
            f"{exc.colno})",
        ) from None
    if not isinstance(body, dict):
        raise LineApiError(400, "The request body could not be parsed as JSON (line: 1, column: 1)")
    return body


def _message_id() -> str:
    return str(uuid.uuid4().int % 10**18)
