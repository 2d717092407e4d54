"""LINE message objects (line-bot-sdk v3 models) for confirmations, replies and alerts.

A confirmation is one Flex bubble: the chart as hero image, the key figures (the first line
bold), and Approve / Reject postback buttons carrying the same signed tokens as Telegram's.
A reply with buttons (``/kill``'s confirmation, a picker) is a Flex bubble too; images go as
image messages. At most five messages per request (the API's limit).
"""

from __future__ import annotations

from collections.abc import Sequence

from linebot.v3.messaging import (
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexComponent,
    FlexImage,
    FlexMessage,
    FlexText,
    ImageMessage,
    Message,
    PostbackAction,
    TextMessage,
)

from bot.channel import Button

MAX_TEXT = 5000
MAX_ALT = 1500
MAX_LABEL = 40
MAX_DATA = 300
MAX_MESSAGES = 5


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _buttons(buttons: Sequence[Button], decision: int | None) -> FlexBox:
    rows: list[FlexComponent] = []
    for i, b in enumerate(buttons):
        if len(b.token) > MAX_DATA:
            raise ValueError(f"postback data over {MAX_DATA} characters: {b.label!r}")
        shown = f"{b.label} #D-{decision}" if decision is not None else b.label
        action = PostbackAction(
            label=clip(b.label, MAX_LABEL), data=b.token, display_text=clip(shown, MAX_DATA)
        )
        style = "primary" if i == 0 else "secondary"
        rows.append(FlexButton(style=style, height="sm", action=action))
    layout = "horizontal" if len(buttons) <= 2 else "vertical"
    return FlexBox(layout=layout, spacing="sm", contents=rows)


def _body(text: str) -> FlexBox:
    lines = text.splitlines() or [""]
    head = FlexText(text=lines[0] or " ", weight="bold", size="sm", wrap=True)
    rest = [FlexText(text=line or " ", size="xs", wrap=True) for line in lines[1:]]
    return FlexBox(layout="vertical", spacing="xs", contents=[head, *rest])


def bubble(
    text: str, image_url: str | None, buttons: Sequence[Button], decision: int | None = None
) -> FlexMessage:
    """A Flex bubble: optional hero image, the text, optional buttons."""
    hero = (
        FlexImage(url=image_url, size="full", aspect_ratio="20:12", aspect_mode="fit")
        if image_url
        else None
    )
    footer = _buttons(buttons, decision) if buttons else None
    contents = FlexBubble(hero=hero, body=_body(text), footer=footer)
    alt = clip(text.splitlines()[0] if text else "Greenlight", MAX_ALT)
    return FlexMessage(alt_text=alt, contents=contents)


def image(url: str) -> ImageMessage:
    """An image message (the preview is the same PNG: charts are far below 1 MB)."""
    return ImageMessage(original_content_url=url, preview_image_url=url)


def reply_messages(
    text: str, image_urls: Sequence[str], buttons: Sequence[Button]
) -> list[Message]:
    """A command's reply: the text (a Flex bubble when it has buttons), then its images."""
    first: Message = (
        bubble(text, None, buttons) if buttons else TextMessage(text=clip(text, MAX_TEXT))
    )
    return [first, *(image(u) for u in image_urls)][:MAX_MESSAGES]
