"""Signed callback ids carried by inline buttons.

A chat client sends back whatever ``callback_data`` a button carried, and a modified client can
send anything at all, so the id names the decision and the action *and* carries a truncated
HMAC-SHA256 tag over both. Tokens look like ``a.1842.Qm9vb2JhcmJh`` (action letter, decision id,
12-char base64url tag): ASCII, URL-safe and far below Telegram's 64-byte limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final, Literal, cast, get_args

CallbackAction = Literal["approve", "reject", "chart"]

MAX_TOKEN_BYTES: Final = 64
MIN_KEY_BYTES: Final = 16
MAX_DECISION_ID: Final = 2**63 - 1  # decisions.id is a bigserial
_TAG_BYTES: Final = 9  # 72 bits → exactly 12 base64url characters, no padding
_LETTER: Final[dict[str, str]] = {"approve": "a", "reject": "r", "chart": "c"}
_ACTION: Final[dict[str, CallbackAction]] = {
    letter: cast(CallbackAction, action) for action, letter in _LETTER.items()
}
_TOKEN_RE: Final = re.compile(r"([arc])\.(0|[1-9][0-9]{0,18})\.([A-Za-z0-9_-]{12})")


class CallbackError(ValueError):
    """A callback token is malformed, forged, or was signed with another key."""


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"callback key must be at least {MIN_KEY_BYTES} bytes")


def _tag(decision_id: int, letter: str, key: bytes) -> str:
    mac = hmac.new(key, f"{letter}.{decision_id}".encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_TAG_BYTES]).decode("ascii")


def encode(decision_id: int, action: CallbackAction, key: bytes) -> str:
    """Return the signed callback token for ``action`` on decision ``decision_id``."""
    _check_key(key)
    if isinstance(decision_id, bool) or not isinstance(decision_id, int):
        raise ValueError(f"decision_id must be an int, got {type(decision_id).__name__}")
    if not 0 <= decision_id <= MAX_DECISION_ID:
        raise ValueError(f"decision_id out of range: {decision_id}")
    if action not in get_args(CallbackAction):
        raise ValueError(f"unknown callback action: {action!r}")
    letter = _LETTER[action]
    return f"{letter}.{decision_id}.{_tag(decision_id, letter, key)}"


def decode(token: str, key: bytes) -> tuple[int, CallbackAction]:
    """Verify ``token`` and return ``(decision_id, action)``; raise :class:`CallbackError`."""
    _check_key(key)
    if not isinstance(token, str) or len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        raise CallbackError("callback token is not a string of at most 64 bytes")
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise CallbackError("callback token is malformed")
    letter, id_text, tag = match.groups()
    decision_id = int(id_text)
    if decision_id > MAX_DECISION_ID:
        raise CallbackError("callback token decision id is out of range")
    if not hmac.compare_digest(tag, _tag(decision_id, letter, key)):
        raise CallbackError("callback token signature does not match")
    return decision_id, _ACTION[letter]


# ---------------------------------------------------------------------------------------------
# Command buttons: a button that runs a command of the table (``/kill confirm``, a picker's
# ``/chart BTCUSDT``) as the person who taps it. The role check happens when it runs, exactly as
# for a typed command; the tag only proves the bot made the button.

_CMD_RE: Final = re.compile(r"m\.([a-z][a-z0-9_]{0,15})\.([A-Za-z0-9-]{0,24})\.([A-Za-z0-9_-]{12})")
_ARG_RE: Final = re.compile(r"[A-Za-z0-9]{1,24}")


def _command_tag(body: str, key: bytes) -> str:
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_TAG_BYTES]).decode("ascii")


def encode_command(command: str, args: tuple[str, ...] | list[str], key: bytes) -> str:
    """A signed token that runs ``/command args…`` when tapped (≤ 58 ASCII bytes)."""
    _check_key(key)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", command):
        raise ValueError(f"command name not encodable: {command!r}")
    if any(not _ARG_RE.fullmatch(a) for a in args):
        raise ValueError(f"command arguments must be letters and digits: {args!r}")
    joined = "-".join(args)
    if len(joined) > 24:
        raise ValueError(f"command arguments too long for a button: {joined!r}")
    body = f"m.{command}.{joined}"
    return f"{body}.{_command_tag(body, key)}"


def decode_command(token: str, key: bytes) -> tuple[str, list[str]]:
    """Verify a command token and return ``(command, args)``; raise :class:`CallbackError`."""
    _check_key(key)
    if not isinstance(token, str) or len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        raise CallbackError("callback token is not a string of at most 64 bytes")
    match = _CMD_RE.fullmatch(token)
    if match is None:
        raise CallbackError("callback token is malformed")
    command, joined, tag = match.groups()
    if not hmac.compare_digest(tag, _command_tag(f"m.{command}.{joined}", key)):
        raise CallbackError("callback token signature does not match")
    return command, joined.split("-") if joined else []


def is_command_token(token: str) -> bool:
    """Whether ``token`` has the shape of a command button (not whether it is genuine)."""
    return isinstance(token, str) and token.startswith("m.")
