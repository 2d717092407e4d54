"""Request validation for the fake LINE Messaging API (spec §6.4): message objects, Flex
bubbles, actions and their limits, with the real API's error shape (``message`` plus
``details[{message, property}]``)."""

from __future__ import annotations

import re
from typing import Any

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_ALT_TEXT = 1500
MAX_POSTBACK_DATA = 300
MAX_FLEX_LABEL = 40
MAX_URL = 2000
MAX_MULTICAST = 500
TO_RE = re.compile(r"[UCR][0-9a-f]{32}")
USER_RE = re.compile(r"U[0-9a-f]{32}")


class LineApiError(Exception):
    """An error answer: HTTP ``status`` with ``{"message", "details"?}``."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body (``details`` omitted when empty, as the API does)."""
        out: dict[str, Any] = {"message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class Problems:
    """Collects validation details; raises one 400 with all of them."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, prop: str, message: str) -> None:
        """One problem at ``prop`` (e.g. ``messages[0].text``)."""
        self.details.append({"message": message, "property": prop})

    def raise_if_any(self) -> None:
        """400 ``The request body has N error(s)``."""
        if self.details:
            n = len(self.details)
            raise LineApiError(400, f"The request body has {n} error(s)", self.details)


def check_messages(messages: Any, p: Problems) -> None:
    """``messages``: 1-5 message objects, each valid."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        p.add("messages", f"Size must be between 1 and {MAX_MESSAGES}")
        return
    for i, m in enumerate(messages):
        _message(m, f"messages[{i}]", p)


def _url(value: Any, prop: str, p: Problems) -> None:
    if not isinstance(value, str) or not value:
        p.add(prop, "May not be empty")
    elif not value.startswith("https://"):
        p.add(prop, "Must be HTTPS")
    elif len(value) > MAX_URL:
        p.add(prop, f"Length must be between 0 and {MAX_URL}")


def _message(m: Any, prop: str, p: Problems) -> None:
    kind = m.get("type") if isinstance(m, dict) else None
    if kind == "text":
        text = m.get("text")
        if not isinstance(text, str) or not text:
            p.add(f"{prop}.text", "May not be empty")
        elif len(text) > MAX_TEXT:
            p.add(f"{prop}.text", f"Length must be between 0 and {MAX_TEXT}")
    elif kind == "image":
        _url(m.get("originalContentUrl"), f"{prop}.originalContentUrl", p)
        _url(m.get("previewImageUrl"), f"{prop}.previewImageUrl", p)
    elif kind == "flex":
        alt = m.get("altText")
        if not isinstance(alt, str) or not 1 <= len(alt) <= MAX_ALT_TEXT:
            p.add(f"{prop}.altText", f"Length must be between 1 and {MAX_ALT_TEXT}")
        contents = m.get("contents")
        if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
            p.add(f"{prop}.contents", "Must be a bubble or a carousel")
        else:
            _flex(contents, f"{prop}.contents", p)
    else:
        p.add(f"{prop}.type", "Invalid message type")
    quick = m.get("quickReply") if isinstance(m, dict) else None
    if isinstance(quick, dict):
        items = quick.get("items") or []
        if len(items) > 13:
            p.add(f"{prop}.quickReply.items", "Size must be between 0 and 13")


def _flex(node: Any, prop: str, p: Problems) -> None:
    if isinstance(node, list):
        for i, child in enumerate(node):
            _flex(child, f"{prop}[{i}]", p)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "image":
        _url(node.get("url"), f"{prop}.url", p)
    if kind == "text" and not node.get("text") and not node.get("contents"):
        p.add(f"{prop}.text", "May not be empty")
    if kind == "button":
        _action(node.get("action"), f"{prop}.action", p)
    for key, value in node.items():
        if key != "action" and isinstance(value, dict | list):
            _flex(value, f"{prop}.{key}", p)


def _action(a: Any, prop: str, p: Problems) -> None:
    if not isinstance(a, dict):
        p.add(prop, "May not be empty")
        return
    label = a.get("label")
    if not isinstance(label, str) or not 1 <= len(label) <= MAX_FLEX_LABEL:
        p.add(f"{prop}.label", f"Length must be between 1 and {MAX_FLEX_LABEL}")
    if a.get("type") == "postback":
        data = a.get("data")
        if not isinstance(data, str) or not 1 <= len(data) <= MAX_POSTBACK_DATA:
            p.add(f"{prop}.data", f"Length must be between 1 and {MAX_POSTBACK_DATA}")
        if len(a.get("displayText") or "") > MAX_POSTBACK_DATA:
            p.add(f"{prop}.displayText", f"Length must be between 0 and {MAX_POSTBACK_DATA}")
