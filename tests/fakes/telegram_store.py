"""Chats, the bot's messages, uploaded photos and flood control for the fake Bot API.

Implements the message methods (send, edit) against in-memory state, validating targets and
limits first so a refused call changes nothing.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram_objects import (
    MAX_CAPTION,
    MAX_TEXT,
    NOT_MODIFIED,
    ApiError,
    BotMessage,
    Params,
    StoredFile,
    bad_request,
    check_markup,
    check_text,
    decode_photo,
)


@dataclass
class FloodControl:
    """Telegram's flood limits: ~1 msg/s per chat (short bursts tolerated), ~30 msg/s overall,
    20 msg/min per group. Exceeding one → 429 ``Too Many Requests: retry after N``."""

    chat_rate: float = 1.0
    chat_burst: int = 3
    global_rate: float = 30.0
    group_per_minute: int = 20
    sent_per_chat: dict[int, int] = field(default_factory=dict)
    _chat_tokens: dict[int, tuple[float, float]] = field(default_factory=dict)
    _global: tuple[float, float] | None = None
    _group_times: dict[int, deque[float]] = field(default_factory=dict)

    def admit(self, chat_id: int, now: float | None = None) -> None:
        """Count one message to ``chat_id`` or raise 429 (a refused message is not counted)."""
        now = time.monotonic() if now is None else now
        chat_tokens = _refill(self._chat_tokens.get(chat_id), now, self.chat_rate, self.chat_burst)
        burst = max(1, int(self.global_rate))
        global_tokens = _refill(self._global, now, self.global_rate, burst)
        window = self._group_times.setdefault(chat_id, deque())
        while window and now - window[0] >= 60:
            window.popleft()
        waits = [(1 - chat_tokens) / self.chat_rate, (1 - global_tokens) / self.global_rate]
        if chat_id < 0 and len(window) >= self.group_per_minute:
            waits.append(60 - (now - window[0]))
        wait = max(waits)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )
        self._chat_tokens[chat_id] = (chat_tokens - 1, now)
        self._global = (global_tokens - 1, now)
        if chat_id < 0:
            window.append(now)
        self.sent_per_chat[chat_id] = self.sent_per_chat.get(chat_id, 0) + 1


def _refill(state: tuple[float, float] | None, now: float, rate: float, burst: int) -> float:
    if state is None:
        return float(burst)
    tokens, last = state
    return min(float(burst), tokens + (now - last) * rate)


class ChatStore:
    """The chats the bot can reach and every message it sent there."""

    def __init__(self, bot_user: dict[str, Any], flood: FloodControl | None) -> None:
        self.bot_user = bot_user
        self.flood = flood
        self.chats: dict[int, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        self.messages: dict[tuple[int, int], BotMessage] = {}
        self.files: dict[str, StoredFile] = {}
        self._next_message_id: dict[int, int] = {}

    def add_chat(self, chat_id: int, chat_type: str | None = None) -> None:
        """Make a chat known (negative ids are groups unless told otherwise)."""
        kind = chat_type or ("private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        chat.update({"first_name": f"User{chat_id}"} if kind == "private" else {"title": "Desk"})
        self.chats.setdefault(chat_id, chat)

    def new_message_id(self, chat_id: int) -> int:
        """Message ids increase per chat, shared by user and bot messages."""
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def message_json(self, message: BotMessage) -> dict[str, Any]:
        """The API's ``Message`` for a stored bot message."""
        return message.to_json(self.chats[message.chat_id], self.bot_user)

    def send_message(self, p: Params) -> dict[str, Any]:
        """``sendMessage``."""
        chat = self._target_chat(p)
        text = check_text(p.string("text"), "text", MAX_TEXT, required=True)
        markup = check_markup(p.json("reply_markup"))
        return self._store(chat, text=text, reply_markup=markup, **self._reply(chat, p))

    def send_photo(self, p: Params) -> dict[str, Any]:
        """``sendPhoto`` with an upload (multipart) or a known ``file_id``."""
        chat = self._target_chat(p)
        caption = check_text(p.string("caption"), "caption", MAX_CAPTION, required=False)
        markup = check_markup(p.json("reply_markup"))
        extra = self._reply(chat, p)
        photo = self._photo(p)
        return self._store(chat, photo=photo, caption=caption, reply_markup=markup, **extra)

    def edit(self, p: Params, method: str) -> dict[str, Any]:
        """``editMessageText`` / ``editMessageCaption`` / ``editMessageReplyMarkup``."""
        message = self._edit_target(p)
        content: dict[str, Any] = {}
        if method == "editMessageText":
            if message.text is None:
                raise bad_request("there is no text in the message to edit")
            content["text"] = check_text(p.string("text"), "text", MAX_TEXT, required=True)
        elif method == "editMessageCaption":
            if message.photo is None:
                raise bad_request("there is no caption in the message to edit")
            caption = check_text(p.string("caption"), "caption", MAX_CAPTION, required=False)
            content["caption"] = caption
        markup = check_markup(p.json("reply_markup"))
        changed = any(getattr(message, k) != v for k, v in content.items())
        if not changed and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        self._admit(message.chat_id)
        for key, value in content.items():
            setattr(message, key, value)
        message.reply_markup = markup
        message.edit_date = int(time.time())
        message.edits.append({"method": method, **content, "reply_markup": markup})
        return self.message_json(message)

    def _reply(self, chat_id: int, p: Params) -> dict[str, Any]:
        """``reply_parameters`` (or legacy ``reply_to_message_id``) and ``disable_notification``:
        replying to a message that does not exist is refused unless allowed."""
        params = p.json("reply_parameters") or {}
        if not isinstance(params, dict):
            raise bad_request("can't parse reply parameters JSON object")
        target = params.get("message_id", p.raw.get("reply_to_message_id"))
        out: dict[str, Any] = {"silent": p.boolean("disable_notification")}
        if target is None:
            return out
        target = int(target)
        allowed = params.get("allow_sending_without_reply") or p.boolean(
            "allow_sending_without_reply"
        )
        if target >= self._next_message_id.get(chat_id, 0) + 1 and not allowed:
            raise bad_request("message to be replied not found")
        return {**out, "reply_to": target}

    def _target_chat(self, p: Params) -> int:
        raw = p.string("chat_id", required=True) or ""
        try:
            chat_id = int(raw)
        except ValueError:
            raise bad_request("chat not found") from None
        if chat_id not in self.chats:
            raise bad_request("chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _edit_target(self, p: Params) -> BotMessage:
        if p.present("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._target_chat(p)
        message = self.messages.get((chat_id, p.integer("message_id", required=True)))
        if message is None:
            raise bad_request("message to edit not found")
        return message

    def _photo(self, p: Params) -> StoredFile:
        upload = p.file("photo")
        if upload is None:
            ref = p.string("photo", required=True, empty="there is no photo in the request") or ""
            if ref in self.files:
                return self.files[ref]
            raise bad_request("wrong file identifier/HTTP URL specified")
        stored = decode_photo(upload.file.read(), f"photos/file_{len(self.files)}.png")
        self.files[stored.file_id] = stored
        return stored

    def _store(self, chat_id: int, **content: Any) -> dict[str, Any]:
        self._admit(chat_id)
        message = BotMessage(chat_id, self.new_message_id(chat_id), int(time.time()), **content)
        self.messages[(chat_id, message.message_id)] = message
        return self.message_json(message)

    def _admit(self, chat_id: int) -> None:
        if self.flood is not None:
            self.flood.admit(chat_id)
