"""Calls to the LINE Messaging API through line-bot-sdk's async client, and what each error
means (spec §6.1): a used or expired reply token (400 ``Invalid reply token``) → the caller
pushes instead; 429 ``You have reached your monthly limit.`` → pushes pause for an hour (the
quota is monthly), other 429s and 5xx / network errors → bounded back-off, a push keeping its
``X-Line-Retry-Key`` so a retry is never a second message (409 = already accepted); other 4xx
(bad token 401, plan 403, bad body 400) → logged with LINE's message, not retried."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import aiohttp
from linebot.v3.messaging import (
    AsyncMessagingApi,
    Message,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from greenlight.core.clock import Clock

log = logging.getLogger("bot.line")
QUOTA_PAUSE_S = 3600.0
Outcome = Literal["ok", "invalid_reply", "quota", "failed"]
Sent = tuple[Outcome, list[str]]  # the outcome, and the ids of the messages created


def _message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or b"{}")
    except ValueError:
        return str(exc.reason)
    return str(body.get("message", exc.reason)) if isinstance(body, dict) else str(exc.reason)


class LineSender:
    """Reply, push and multicast with the rules of the module docstring; the quota pause is
    timed on ``clock``'s monotonic reading."""

    def __init__(
        self,
        api: AsyncMessagingApi,
        clock: Clock,
        attempts: int = 3,
        backoff: float = 0.5,
        timeout_s: float = 10,
    ) -> None:
        self._api = api
        self._clock = clock
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout_s
        self.quota_paused_until = 0.0

    async def reply(self, token: str, messages: Sequence[Message], silent: bool = False) -> Sent:
        """Answer with a reply token (free of quota); ``invalid_reply`` if it is used up."""
        request = ReplyMessageRequest(
            reply_token=token, messages=list(messages), notification_disabled=silent
        )
        return await self._call("reply", lambda: self._api.reply_message(request, **self._kw()))

    async def push(self, to: str, messages: Sequence[Message], silent: bool = False) -> Sent:
        """Push to a user, group or room (counts against the monthly quota)."""
        request = PushMessageRequest(to=to, messages=list(messages), notification_disabled=silent)
        key = str(uuid.uuid4())
        return await self._call(
            "push", lambda: self._api.push_message(request, x_line_retry_key=key, **self._kw())
        )

    async def multicast(
        self, users: Sequence[str], messages: Sequence[Message], silent: bool = False
    ) -> Sent:
        """The same messages to up to 500 users in one request."""
        request = MulticastRequest(
            to=list(users), messages=list(messages), notification_disabled=silent
        )
        key = str(uuid.uuid4())
        return await self._call(
            "multicast", lambda: self._api.multicast(request, x_line_retry_key=key, **self._kw())
        )

    def _kw(self) -> dict[str, Any]:
        return {"_request_timeout": self._timeout}

    async def _call(self, what: str, call: Callable[[], Awaitable[Any]]) -> Sent:
        if what != "reply" and self._clock.monotonic() < self.quota_paused_until:
            log.warning("line: %s skipped, the monthly message quota is used up", what)
            return "quota", []
        for attempt in range(1, self._attempts + 1):
            try:
                result = await call()
            except ApiException as exc:
                outcome = self._judge(what, exc)
                if outcome is not None:
                    return outcome, []
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("line: %s failed (%r), attempt %d", what, exc, attempt)
            else:
                sent = getattr(result, "sent_messages", None) or []
                return "ok", [str(m.id) for m in sent]
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        log.error("line: %s failed %d times, giving up", what, self._attempts)
        return "failed", []

    def _judge(self, what: str, exc: ApiException) -> Outcome | None:
        """The outcome of an error, or ``None`` to retry."""
        status, text = exc.status, _message(exc)
        if status == 409:  # the retry key was accepted before: the message went out
            return "ok"
        if status == 400 and what == "reply" and "reply token" in text.lower():
            return "invalid_reply"
        if status == 429 and "monthly limit" in text.lower():
            self.quota_paused_until = self._clock.monotonic() + QUOTA_PAUSE_S
            log.error("line: monthly message quota reached; pushes paused for an hour")
            return "quota"
        if status == 429 or status == 0 or status >= 500:
            log.warning("line: %s refused (%s %s), backing off", what, status, text)
            return None
        log.error("line: %s refused (%s): %s", what, status, text)
        return "failed"
