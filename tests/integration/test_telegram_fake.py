"""The fake Bot API at the HTTP level: routing, envelopes, limits, edits and getUpdates."""

from __future__ import annotations

import asyncio
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_objects import ApiError
from tests.fakes.telegram_store import FloodControl
from tests.helpers import eventually

CHAT = 1001
KEYBOARD = {"inline_keyboard": [[{"text": "✅ Approve", "callback_data": "a.1.AAAAAAAAAAAA"}]]}


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + (chunk(b"IEND", b""))
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    fake = FakeTelegramApi(chats=[CHAT])
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, api: FakeTelegramApi, method: str, **form: Any
) -> tuple[int, dict[str, Any]]:
    """POST form-urlencoded the way PTB does: non-strings JSON-encoded."""
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
    async with http.post(f"{api.base_url}{api.token}/{method}", data=data) as resp:
        return resp.status, await resp.json()


async def test_routing_tokens_and_methods(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, api, "GETME")
    assert status == 200 and body["ok"] and body["result"]["is_bot"]
    other = "987654321:" + "B" * 35
    async with http.post(f"{api.base_url}{other}/getMe") as resp:
        assert resp.status == 401
        assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    async with http.post(f"{api.base_url}not-a-token/getMe") as resp:
        assert resp.status == 404 and (await resp.json())["error_code"] == 404
    status, body = await call(http, api, "sendCarrierPigeon")
    assert (status, body["description"]) == (404, "Not Found")
    async with http.get(f"{api.base_url}{api.token}/sendmessage?chat_id={CHAT}&text=hi") as resp:
        assert resp.status == 200 and (await resp.json())["result"]["text"] == "hi"
    body_json = {"chat_id": CHAT, "text": "json", "reply_markup": KEYBOARD}
    async with http.post(f"{api.base_url}{api.token}/sendMessage", json=body_json) as resp:
        assert (await resp.json())["result"]["reply_markup"] == KEYBOARD
    assert [m.text for m in api.sent(CHAT)] == ["hi", "json"]


async def test_limits_are_enforced_and_change_nothing(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("sendMessage", {"chat_id": CHAT, "text": "x" * 4097}, "message is too long"),
        ("sendMessage", {"chat_id": CHAT, "text": "🟢" * 2049}, "message is too long"),
        ("sendMessage", {"chat_id": CHAT, "text": "  "}, "message text is empty"),
        ("sendMessage", {"chat_id": 555, "text": "hi"}, "chat not found"),
        (
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": "é" * 33}]]},
            },
            "BUTTON_DATA_INVALID",
        ),
        ("setMyCommands", {"commands": [{"command": "Status", "description": "x"}]}, "INVALID"),
        ("setMyCommands", {"commands": [{"command": "s", "description": ""}]}, "INVALID"),
        ("setMyCommands", {"commands": [{"command": "s", "description": "d"}] * 101}, "too many"),
        ("answerCallbackQuery", {"callback_query_id": "nope"}, "query ID is invalid"),
    ]
    for method, params, description in cases:
        status, body = await call(http, api, method, **params)
        assert status == 400 and body["error_code"] == 400, (method, params)
        assert description in body["description"], body
    status, _ = await call(http, api, "sendMessage", chat_id=CHAT, text="🟢" * 2048)
    assert status == 200
    assert len(api.sent(CHAT)) == 1 and api.commands == []


async def test_send_photo_upload_caption_limit_and_edits(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    image = png(120, 60)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("caption", "c" * 1025)
    form.add_field("photo", image, filename="chart.png", content_type="image/png")
    async with http.post(f"{api.base_url}{api.token}/sendPhoto", data=form) as resp:
        assert resp.status == 400 and "caption is too long" in (await resp.json())["description"]
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("caption", "LONG BTCUSDT")
    form.add_field("reply_markup", json.dumps(KEYBOARD))
    form.add_field("photo", image, filename="chart.png", content_type="image/png")
    async with http.post(f"{api.base_url}{api.token}/sendPhoto", data=form) as resp:
        result = (await resp.json())["result"]
    assert [(p["width"], p["height"]) for p in result["photo"]] == [(90, 45), (120, 60)]
    assert result["photo"][-1]["file_size"] == len(image)
    [message] = api.sent(CHAT)
    assert message.photo_bytes == image and message.caption == "LONG BTCUSDT"
    mid = result["message_id"]
    status, body = await call(http, api, "editMessageText", chat_id=CHAT, message_id=mid, text="x")
    assert status == 400 and "no text in the message" in body["description"]
    status, body = await call(
        http,
        api,
        "editMessageCaption",
        chat_id=CHAT,
        message_id=mid,
        caption="LONG BTCUSDT",
        reply_markup=KEYBOARD,
    )
    assert status == 400 and "message is not modified" in body["description"]
    status, body = await call(http, api, "editMessageReplyMarkup", chat_id=CHAT, message_id=mid)
    assert status == 200 and "reply_markup" not in body["result"]
    status, body = await call(http, api, "editMessageReplyMarkup", chat_id=CHAT, message_id=mid)
    assert status == 400 and "message is not modified" in body["description"]
    status, body = await call(http, api, "editMessageText", chat_id=CHAT, message_id=99, text="x")
    assert status == 400 and "message to edit not found" in body["description"]
    assert [e["method"] for e in message.edits] == ["editMessageReplyMarkup"]
    status, body = await call(http, api, "getFile", file_id=result["photo"][-1]["file_id"])
    async with http.get(f"{api.base_file_url}{api.token}/{body['result']['file_path']}") as resp:
        assert await resp.read() == image


async def test_scripted_errors_use_real_envelopes(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    api.script_error("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    api.script_error("sendMessage", 403, "Forbidden: bot was blocked by the user")
    status, body = await call(http, api, "sendMessage", chat_id=CHAT, text="a")
    assert status == 429 and body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    status, body = await call(http, api, "sendMessage", chat_id=CHAT, text="a")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    status, _ = await call(http, api, "sendMessage", chat_id=CHAT, text="a")
    assert status == 200 and len(api.sent(CHAT)) == 1
    with pytest.raises(ValueError, match="unknown Bot API method"):
        api.script_error("sendFax", 500, "x")


async def test_get_updates_offsets_limit_and_allowed_updates(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    ids = [api.inject_message(CHAT, 7, f"/cmd{i}") for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    _, body = await call(http, api, "getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    assert body["result"][0]["message"]["entities"][0]["type"] == "bot_command"
    _, body = await call(http, api, "getUpdates", offset=ids[1] + 1)
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    _, body = await call(http, api, "getUpdates", offset=ids[2] + 1)
    assert body["result"] == []
    await call(http, api, "sendMessage", chat_id=CHAT, text="q")
    api.inject_message(CHAT, 7, "hello")
    query_id = api.inject_callback(CHAT, 7, api.sent(CHAT)[0].message_id, "a.1.AAAAAAAAAAAA")
    _, body = await call(http, api, "getUpdates", allowed_updates=["callback_query"])
    [update] = body["result"]
    assert update["callback_query"]["id"] == query_id
    assert update["callback_query"]["chat_instance"] and update["update_id"] > ids[2]
    _, body = await call(
        http, api, "answerCallbackQuery", callback_query_id=query_id, text="y" * 201
    )
    assert body["error_code"] == 400
    _, body = await call(http, api, "answerCallbackQuery", callback_query_id=query_id, text="ok")
    assert body["result"] is True and api.answered_callbacks[0].text == "ok"


async def test_long_poll_waits_returns_early_and_times_out(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    _, body = await call(http, api, "getUpdates", timeout=1)
    assert body["result"] == [] and 0.9 <= time.monotonic() - started < 3
    poll = asyncio.create_task(call(http, api, "getUpdates", timeout=20))

    async def polling() -> bool:
        return len(api.calls_of("getUpdates")) == 2

    await eventually(polling, timeout=5, what="second long poll")
    started = time.monotonic()
    api.inject_message(CHAT, 7, "/status")
    _, body = await asyncio.wait_for(poll, 5)
    assert body["result"][0]["message"]["text"] == "/status"
    assert time.monotonic() - started < 1


async def test_concurrent_poll_and_webhook_conflicts(
    api: FakeTelegramApi, http: aiohttp.ClientSession
) -> None:
    older = asyncio.create_task(call(http, api, "getUpdates", timeout=20))

    async def polling() -> bool:
        return len(api.calls_of("getUpdates")) == 1

    await eventually(polling, timeout=5, what="first long poll")
    status, body = await call(http, api, "getUpdates", timeout=0)
    assert status == 200 and body["result"] == []
    status, body = await asyncio.wait_for(older, 5)
    assert status == 409 and "terminated by other getUpdates request" in body["description"]
    status, _ = await call(http, api, "setWebhook", url="https://example.invalid/hook")
    assert status == 200
    status, body = await call(http, api, "getUpdates")
    assert status == 409 and "webhook is active" in body["description"]
    api.inject_message(CHAT, 7, "/status")
    await call(http, api, "deleteWebhook", drop_pending_updates=True)
    status, body = await call(http, api, "getUpdates")
    assert (status, body["result"]) == (200, [])


def test_flood_control_counts_per_chat_group_and_global() -> None:
    flood = FloodControl()
    for i in range(3):  # a short burst is tolerated
        flood.admit(CHAT, now=100.0 + i * 0.01)
    with pytest.raises(ApiError) as err:
        flood.admit(CHAT, now=100.05)
    assert (err.value.status, err.value.parameters) == (429, {"retry_after": 1})
    assert "retry after 1" in err.value.description
    flood.admit(CHAT, now=101.1)
    assert flood.sent_per_chat == {CHAT: 4}

    group = FloodControl(chat_burst=100, chat_rate=100.0)
    for i in range(20):
        group.admit(-5, now=200.0 + i)
    with pytest.raises(ApiError) as err:
        group.admit(-5, now=230.0)
    assert err.value.parameters == {"retry_after": 30}
    group.admit(-5, now=260.5)

    overall = FloodControl()
    for chat in range(1, 31):
        overall.admit(chat, now=300.0)
    with pytest.raises(ApiError):
        overall.admit(31, now=300.0)
    assert sum(overall.sent_per_chat.values()) == 30


async def test_flood_control_over_http(http: aiohttp.ClientSession) -> None:
    api = FakeTelegramApi(chats=[CHAT], flood=FloodControl())
    await api.start()
    try:
        statuses = [
            (await call(http, api, "sendMessage", chat_id=CHAT, text="x"))[0] for _ in "1234"
        ]
        status, body = await call(http, api, "sendMessage", chat_id=CHAT, text="x")
    finally:
        await api.stop()
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    assert status == 429 and body["parameters"]["retry_after"] >= 1
    assert len(api.sent(CHAT)) == 3
