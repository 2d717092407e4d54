"""How the Telegram channel calls the Bot API: one flood gate for the whole bot, bounded
retries, and per-chat delivery that skips a chat which blocked the bot.

``RetryAfter`` (HTTP 429 with ``retry_after``) closes the gate: every later call from this
bot, to any chat, waits until Telegram said it may send again (by the bot's clock), then the
refused call is retried once. ``NetworkError`` (timeouts, 5xx) is retried with bounded
exponential back-off. Errors that retrying cannot fix (bad request, forbidden, invalid token,
conflicts) are raised at once.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
from telegram.warnings import PTBDeprecationWarning

from greenlight.core.clock import Clock

log = logging.getLogger("bot.telegram")
T = TypeVar("T")
_NOT_RETRIED = (BadRequest, Forbidden, InvalidToken, Conflict, ChatMigrated)


class Caller:
    """Runs Bot API calls with the shared flood gate and the retry rules above."""

    def __init__(
        self, max_retry_wait: float, network_attempts: int, backoff: float, clock: Clock
    ) -> None:
        if network_attempts < 1 or max_retry_wait < 0 or backoff < 0:
            raise ValueError("network_attempts ≥ 1, max_retry_wait ≥ 0 and backoff ≥ 0 required")
        self._max_wait = max_retry_wait
        self._attempts = network_attempts
        self._backoff = backoff
        self._clock = clock
        # the clock's monotonic reading before which nothing is sent (Telegram's retry_after)
        self._open_at = float("-inf")

    async def _gate(self) -> None:
        # One sleep to the gate's opening; a later 429 moves the opening, so check again.
        wait = self._open_at - self._clock.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
            await self._gate()

    def _close_gate(self, seconds: float) -> None:
        self._open_at = max(self._open_at, self._clock.monotonic() + seconds)

    async def call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` behind the gate; retry once after ``RetryAfter``, back off on
        ``NetworkError``; raise what cannot be fixed by retrying."""
        attempt, waited = 0, False
        while True:
            await self._gate()
            try:
                return await call()
            except RetryAfter as exc:
                delay = min(retry_after_seconds(exc), self._max_wait)
                self._close_gate(delay)
                if waited:
                    raise
                waited = True
                log.warning("telegram: %s rate-limited, every send waits %.1f s", what, delay)
            except _NOT_RETRIED:
                raise
            except NetworkError as exc:
                attempt += 1
                if attempt >= self._attempts:
                    raise
                delay = self._backoff * 2 ** (attempt - 1)
                log.warning(
                    "telegram: %s failed (%s), retry %d in %.1f s", what, exc, attempt, delay
                )
                await asyncio.sleep(delay)

    async def deliver(self, chat: int, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """:meth:`call` for one chat; a blocked chat or a lasting error skips it (logged)."""
        try:
            return await self.call(what, call)
        except Forbidden as exc:
            log.warning("telegram: %s to chat %s forbidden, skipping: %s", what, chat, exc)
        except TelegramError as exc:
            log.error("telegram: %s to chat %s failed: %s", what, chat, exc)
        return None


def retry_after_seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds (PTB 22 warns it will become a timedelta; accept both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def not_modified(exc: BadRequest) -> bool:
    """Telegram's "message is not modified" (PTB capitalises the text it gets)."""
    return "message is not modified" in exc.message.lower()


def no_text(exc: BadRequest) -> bool:
    """ "there is no text in the message to edit" (the message is a photo with a caption)."""
    return "no text in the message" in exc.message.lower()
