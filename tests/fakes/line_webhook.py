"""The LINE platform's side of the webhook: events as LINE sends them, signed with the
channel secret (``X-Line-Signature`` = Base64 HMAC-SHA256 of the raw body), with reply tokens
issued by the fake API so that replying to them is checked there."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

import aiohttp

from tests.fakes.line_api import FakeLineApi


def user_id() -> str:
    """A random LINE user id (``U`` + 32 hex)."""
    return "U" + secrets.token_hex(16)


def group_id() -> str:
    """A random LINE group id (``C`` + 32 hex)."""
    return "C" + secrets.token_hex(16)


def signature(secret: str, body: bytes) -> str:
    """What LINE puts in ``X-Line-Signature``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class LinePlatform:
    """Builds events and posts them to the bot's webhook URL."""

    def __init__(self, api: FakeLineApi, secret: str, url: str, bot_id: str | None = None):
        self.api = api
        self.secret = secret
        self.url = url
        self.destination = bot_id or user_id()

    def _event(
        self,
        kind: str,
        user: str,
        group: str | None,
        reply_age_s: float = 0.0,
        at_ms: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        source: dict[str, Any] = {"type": "user", "userId": user}
        if group is not None:
            source = {"type": "group", "groupId": group, "userId": user}
        chat = group or user
        return {
            "type": kind,
            "mode": "active",
            "timestamp": int((time.time() - reply_age_s) * 1000) if at_ms is None else at_ms,
            "source": source,
            "webhookEventId": uuid.uuid4().hex.upper()[:26],
            "deliveryContext": {"isRedelivery": False},
            "replyToken": self.api.issue_reply_token(chat, age_s=reply_age_s),
            **extra,
        }

    def text(
        self,
        user: str,
        text: str,
        group: str | None = None,
        age_s: float = 0.0,
        at_ms: int | None = None,
    ) -> dict[str, Any]:
        """A user writes ``text`` (in ``group``, or 1:1), ``age_s`` ago, or stamped ``at_ms``
        (the platform's event time, e.g. read from a test's clock)."""
        message = {
            "type": "text",
            "id": str(uuid.uuid4().int % 10**18),
            "text": text,
            "quoteToken": secrets.token_urlsafe(16),
        }
        return self._event("message", user, group, age_s, at_ms, message=message)

    def postback(self, user: str, data: str, group: str | None = None) -> dict[str, Any]:
        """A user taps a postback button carrying ``data``."""
        return self._event("postback", user, group, postback={"data": data})

    def follow(self, user: str) -> dict[str, Any]:
        """A user adds the bot as a friend."""
        return self._event("follow", user, None, follow={"isUnblocked": False})

    async def post(
        self,
        session: aiohttp.ClientSession,
        events: list[dict[str, Any]],
        sign: str | None = "valid",
    ) -> int:
        """POST the events; ``sign``: ``valid``, ``None`` (no header) or a forged value."""
        body = json.dumps({"destination": self.destination, "events": events}).encode()
        headers = {"Content-Type": "application/json"}
        if sign == "valid":
            headers["X-Line-Signature"] = signature(self.secret, body)
        elif sign is not None:
            headers["X-Line-Signature"] = sign
        async with session.post(self.url, data=body, headers=headers) as resp:
            return resp.status
