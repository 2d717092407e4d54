"""The bot's HTTP endpoint for LINE: the webhook (``POST webhook_path``) and the chart images
(``GET /line/img/<file>``), on ``webhook_host:webhook_port`` behind a TLS proxy.

The webhook checks ``X-Line-Signature`` (Base64 HMAC-SHA256 of the raw body with the channel
secret, compared in constant time) before reading anything, answers 200 at once and handles
the events in the background; a missing signature (400) or a wrong one (401) changes nothing
and is reported to ``on_refused`` (which audits it).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError

from bot.line.images import PREFIX, SignedImages

log = logging.getLogger("bot.line")
MAX_BODY = 1024 * 1024
OnEvents = Callable[[list[Any]], Coroutine[Any, Any, None]]
OnRefused = Callable[[str, dict[str, object]], Coroutine[Any, Any, None]]


def valid_signature(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is LINE's signature of ``body`` (constant-time comparison)."""
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


class LineWebhook:
    """The aiohttp server; see the module docstring."""

    def __init__(
        self,
        secret: str,
        path: str,
        images: SignedImages,
        on_events: OnEvents,
        on_refused: OnRefused,
    ) -> None:
        self._secret = secret
        self._parser = WebhookParser(secret)
        self._path = path
        self._images = images
        self._on_events = on_events
        self._on_refused = on_refused
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0: a free port, see :attr:`port`)."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._path, self._webhook)
        app.router.add_get(PREFIX + "/{name}", self._image)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and finish (or cancel) the events being handled."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until every event received so far has been handled (for tests and stop)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("X-Line-Signature")
        peer = request.headers.get("X-Forwarded-For") or request.remote or "?"
        if not signature:
            await self._on_refused("line.webhook.unsigned", {"peer": peer, "bytes": len(body)})
            return web.Response(status=400, text="missing X-Line-Signature")
        if not valid_signature(self._secret, body, signature):
            await self._on_refused("line.webhook.forged", {"peer": peer, "bytes": len(body)})
            return web.Response(status=401, text="bad signature")
        try:
            events = self._parser.parse(body.decode("utf-8"), signature)
        except (ValueError, KeyError, TypeError, InvalidSignatureError) as exc:
            await self._on_refused("line.webhook.malformed", {"peer": peer, "error": str(exc)})
            return web.Response(status=400, text="malformed webhook body")
        if events:
            task = asyncio.create_task(self._on_events(list(events)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(text="ok")

    async def _image(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        path = self._images.resolve(request.match_info["name"], q.get("e", ""), q.get("s", ""))
        if path is None:
            return web.Response(status=404, text="not found")
        return web.FileResponse(path, headers={"Content-Type": "image/png"})
