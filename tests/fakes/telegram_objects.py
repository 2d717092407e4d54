"""Object model, parameter decoding and validation for the fake Telegram Bot API.

Kept apart from the HTTP server so each file stays about one thing. Everything here mirrors
the real API's shapes and error texts (spec §5); nothing talks to the network.
"""

from __future__ import annotations

import json
import re
import struct
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web import FileField

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
MAX_PHOTO_BYTES = 10 * 1024 * 1024
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


class ApiError(Exception):
    """A Bot API failure; becomes ``{ok: false, ...}`` with HTTP status ``status``."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, int] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(detail: str) -> ApiError:
    """A 400 with the real API's ``Bad Request: …`` prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units (an emoji such as 🟢 counts 2)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Call:
    """One Bot API request as the fake received it (files shown as their byte counts)."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when the fake received it


@dataclass(frozen=True)
class AnsweredCallback:
    """An ``answerCallbackQuery`` the bot made."""

    callback_query_id: str
    text: str | None
    show_alert: bool


@dataclass
class StoredFile:
    """An uploaded photo."""

    file_id: str
    file_unique_id: str
    data: bytes
    width: int
    height: int
    file_path: str

    def sizes(self) -> list[dict[str, Any]]:
        """The ``PhotoSize`` list: a 90-px thumbnail (when smaller) and the full photo."""
        full = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": len(self.data),
        }
        scale = 90 / max(self.width, self.height)
        if scale >= 1:
            return [full]
        thumb = {
            "file_id": self.file_id + "_s",
            "file_unique_id": self.file_unique_id + "s",
            "width": max(1, round(self.width * scale)),
            "height": max(1, round(self.height * scale)),
        }
        return [thumb, full]


@dataclass
class BotMessage:
    """A message the bot sent, with its current content and every edit made to it."""

    chat_id: int
    message_id: int
    date: int
    text: str | None = None
    caption: str | None = None
    photo: StoredFile | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None  # the message this one answers (reply_parameters)
    silent: bool = False  # disable_notification
    edit_date: int | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def photo_bytes(self) -> bytes | None:
        """The uploaded image, if this is a photo message."""
        return self.photo.data if self.photo else None

    def callback_data(self) -> list[str]:
        """Every ``callback_data`` on the current inline keyboard, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b["callback_data"] for row in rows for b in row if "callback_data" in b]

    def to_json(self, chat: dict[str, Any], bot_user: dict[str, Any]) -> dict[str, Any]:
        """The ``Message`` object the API returns."""
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": chat,
            "from": bot_user,
        }
        if self.text is not None:
            out["text"] = self.text
        if self.photo is not None:
            out["photo"] = self.photo.sizes()
        if self.caption:
            out["caption"] = self.caption
        if self.reply_markup is not None:
            out["reply_markup"] = self.reply_markup
        if self.edit_date is not None:
            out["edit_date"] = self.edit_date
        if self.reply_to is not None:
            out["reply_to_message"] = {"message_id": self.reply_to, "date": self.date, "chat": chat}
        return out


class Params:
    """Request parameters from the query string, a form, a multipart body or JSON.

    Form values are strings and non-string values arrive JSON-encoded (PTB's convention);
    JSON bodies carry native values. The accessors accept both.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = dict(raw)

    def present(self, name: str) -> bool:
        """Whether ``name`` was sent at all."""
        return name in self.raw

    def string(self, name: str, *, required: bool = False, empty: str = "") -> str | None:
        """A string parameter; missing and required → 400 ``<name> is empty``."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(empty or f"{name} is empty")
            return None
        if isinstance(value, FileField):
            raise bad_request(f"{name} must be a string")
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int:
        """An integer parameter (``"123"`` or ``123``)."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required or default is None:
                raise bad_request(f"{name} is empty")
            return default
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def boolean(self, name: str) -> bool:
        """A boolean parameter (``"true"``, ``true``, ``"1"``)."""
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str) -> Any:
        """A structured parameter, decoding the JSON string form sends."""
        value = self.raw.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def file(self, name: str) -> FileField | None:
        """An uploaded file part, directly or through an ``attach://<part>`` reference."""
        value = self.raw.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = self.raw.get(value.removeprefix("attach://"))
        return value if isinstance(value, FileField) else None

    def loggable(self) -> dict[str, Any]:
        """The parameters with uploads replaced by a short description (for ``calls``)."""
        out: dict[str, Any] = {}
        for key, value in self.raw.items():
            out[key] = f"<file {value.filename}>" if isinstance(value, FileField) else value
        return out


def check_text(text: str | None, what: str, limit: int, *, required: bool) -> str | None:
    """Validate message text or a caption against Telegram's UTF-16 length limits."""
    stripped = text.strip() if text is not None else ""
    if not stripped:
        if required:
            raise bad_request("message text is empty")
        return None
    if utf16_len(stripped) > limit:
        raise bad_request(
            "message is too long" if what == "text" else f"message {what} is too long"
        )
    return stripped


def check_markup(raw: Any) -> dict[str, Any] | None:
    """Validate an ``InlineKeyboardMarkup``; an empty keyboard means "no keyboard"."""
    if raw is None:
        return None
    rows = raw.get("inline_keyboard") if isinstance(raw, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return {"inline_keyboard": rows} if any(rows) else None


def check_commands(raw: Any) -> list[dict[str, str]]:
    """Validate a ``setMyCommands`` list: ≤ 100 commands, names and descriptions in range."""
    if not isinstance(raw, list):
        raise bad_request("can't parse commands JSON object")
    if len(raw) > 100:
        raise bad_request("too many commands specified")
    out: list[dict[str, str]] = []
    for item in raw:
        command = item.get("command") if isinstance(item, dict) else None
        description = item.get("description") if isinstance(item, dict) else None
        if not isinstance(command, str) or not _COMMAND_RE.fullmatch(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        out.append({"command": command, "description": description})
    return out


def decode_photo(data: bytes, file_path: str) -> StoredFile:
    """Validate an uploaded photo (size, format, dimensions) and give it a file id."""
    if len(data) > MAX_PHOTO_BYTES:
        raise bad_request("file is too big")
    width, height = image_size(data)
    check_photo_dimensions(width, height)
    file_id, unique_id = "AgAC" + uuid.uuid4().hex, "AQAD" + uuid.uuid4().hex[:12]
    return StoredFile(file_id, unique_id, data, width, height, file_path)


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG; anything else → 400 ``IMAGE_PROCESS_FAILED``."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data) and data[pos] == 0xFF:
            marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return width, height
            pos += 2 + length
    raise bad_request("IMAGE_PROCESS_FAILED")


def check_photo_dimensions(width: int, height: int) -> None:
    """Telegram's photo rules: width + height ≤ 10000 and aspect ratio ≤ 20."""
    if (
        width <= 0
        or height <= 0
        or width + height > 10000
        or max(width, height) > 20 * min(width, height)
    ):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")


def user_json(user_id: int) -> dict[str, Any]:
    """A human ``User`` object."""
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}


def envelope_error(err: ApiError) -> web.Response:
    """``{ok: false, error_code, description[, parameters]}`` with HTTP status = error_code."""
    body: dict[str, Any] = {"ok": False, "error_code": err.status, "description": err.description}
    if err.parameters:
        body["parameters"] = err.parameters
    return web.json_response(body, status=err.status)


async def read_params(request: web.Request) -> Params:
    """Merge the query string with a JSON, form-urlencoded or multipart body."""
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        raw.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raw.update(await request.post())
    return Params(raw)
