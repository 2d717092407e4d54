"""The real LINE channel (line-bot-sdk v3, async) against the fake Messaging API and a signed
webhook driver: signatures, reply tokens, push fallback, Flex confirmations with signed image
URLs, groups checked per user, quota and rate limits; on a clock the test moves, the reply
window, the images' expiry and the quota pause."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channel import Button, Confirmation, Notice, Reply
from bot.line.channel import LineChannel
from bot.line.sender import QUOTA_PAUSE_S
from tests.fakes.clock import FakeClock
from tests.fakes.line_api import FakeLineApi
from tests.fakes.line_webhook import LinePlatform, group_id, user_id
from tests.helpers import eventually

SECRET = "line-channel-secret-for-tests-0123"
PUBLIC = "https://bot.example.test"
ANN, BOB = user_id(), user_id()
DESK = group_id()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x10\x00\x00\x00\x10" + b"x" * 40


class RecordingInbound:
    def __init__(self) -> None:
        self.commands: list[tuple[str, str, str, list[str]]] = []
        self.taps: list[tuple[str, str, str]] = []
        self.refused: list[str] = []
        self.reply = Reply("pong")

    async def on_tap(self, channel: str, user_id: str, token: str, chat_id: str = "") -> Reply:
        self.taps.append((user_id, token, chat_id))
        return Reply(f"tapped {token}")

    async def on_command(
        self, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
    ) -> Reply:
        self.commands.append((user_id, chat_id, command, args))
        return self.reply

    async def on_refused(self, channel: str, what: str, detail: dict[str, object]) -> None:
        self.refused.append(what)


@pytest.fixture
async def api() -> AsyncIterator[FakeLineApi]:
    fake = FakeLineApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def inbound() -> RecordingInbound:
    return RecordingInbound()


def channel(api: FakeLineApi, tmp_path: Path, **options: Any) -> LineChannel:
    return LineChannel(
        api.access_token,
        SECRET,
        api.base_url,
        (ANN, DESK),
        PUBLIC,
        tmp_path,
        webhook=("127.0.0.1", 0, "/line/webhook"),
        backoff=0.01,
        events=("confirmation", "outcome", "kill", "error", "bos"),
        **options,
    )


@pytest.fixture
async def line(
    api: FakeLineApi, inbound: RecordingInbound, tmp_path: Path
) -> AsyncIterator[LineChannel]:
    chan = channel(api, tmp_path)
    await chan.start(inbound)
    yield chan
    await chan.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked(
    api: FakeLineApi, inbound: RecordingInbound, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[LineChannel]:
    """The channel on the test's clock (reply window 50 s, images valid 60 s)."""
    chan = channel(api, tmp_path, clock=clock, reply_window_s=50.0, image_ttl_s=60)
    await chan.start(inbound)
    yield chan
    await chan.stop()


def platform(api: FakeLineApi, line: LineChannel) -> LinePlatform:
    return LinePlatform(api, SECRET, f"http://127.0.0.1:{line.webhook.port}/line/webhook")


def local(line: LineChannel, url: str) -> str:
    """What the TLS proxy does: the public URL to the bot's own port."""
    return url.replace(PUBLIC, f"http://127.0.0.1:{line.webhook.port}")


async def test_confirmation_is_a_flex_with_chart_and_signed_postbacks(
    api: FakeLineApi, line: LineChannel, tmp_path: Path
) -> None:
    chart = tmp_path / "decision-12.png"
    chart.write_bytes(PNG)
    buttons = (Button("✅ Approve", "a.12.AAAAAAAAAAAA"), Button("❌ Reject", "r.12.BBBBBBBBBBBB"))
    conf = Confirmation(12, "🟢 LONG BTCUSDT\nEntry 60,250", chart, buttons)
    sent = await line.send_confirmation(conf)
    assert sorted(s.chat_id for s in sent) == sorted((ANN, DESK))
    [to_ann], [to_desk] = api.to(ANN), api.to(DESK)
    assert (to_ann.via, to_desk.via) == ("multicast", "push")
    flex = to_ann.messages[0]
    assert flex["type"] == "flex" and flex["altText"] == "🟢 LONG BTCUSDT"
    assert to_ann.postbacks() == [b.token for b in buttons]
    [url] = to_ann.image_urls()
    assert url.startswith(PUBLIC + "/line/img/decision-12.png?e=")
    async with aiohttp.ClientSession() as s:
        async with s.get(local(line, url)) as resp:
            assert resp.status == 200 and await resp.read() == PNG
        async with s.get(local(line, url.replace("&s=", "&s=x"))) as resp:
            assert resp.status == 404
        async with s.get(local(line, url.replace("decision-12", "decision-13"))) as resp:
            assert resp.status == 404


async def test_forged_or_unsigned_webhooks_change_nothing_and_are_reported(
    api: FakeLineApi, line: LineChannel, inbound: RecordingInbound
) -> None:
    lp = platform(api, line)
    async with aiohttp.ClientSession() as s:
        assert (
            await lp.post(s, [lp.text(ANN, "/kill confirm")], sign="Zm9yZ2VkIHNpZ25hdHVyZQ==")
            == 401
        )
        assert await lp.post(s, [lp.text(ANN, "/kill confirm")], sign=None) == 400
        lp.secret = "another-channels-secret"
        assert await lp.post(s, [lp.postback(ANN, "a.12.AAAAAAAAAAAA")]) == 401
        lp.secret = SECRET
        assert await lp.post(s, []) == 200  # LINE's connection check
    await line.webhook.idle()
    assert inbound.commands == [] and inbound.taps == [] and api.delivered == []
    assert inbound.refused == ["line.webhook.forged", "line.webhook.unsigned"] + [
        "line.webhook.forged"
    ]


async def test_commands_answer_with_the_reply_token_and_groups_name_the_user(
    api: FakeLineApi, line: LineChannel, inbound: RecordingInbound
) -> None:
    lp = platform(api, line)
    async with aiohttp.ClientSession() as s:
        assert await lp.post(s, [lp.text(ANN, "/Status now")]) == 200
        await eventually(lambda: _true(api.to(ANN)), 5, "reply to ann")
        assert (
            await lp.post(
                s, [lp.text(BOB, "/help", group=DESK), lp.text(BOB, "lunch?", group=DESK)]
            )
            == 200
        )
        await eventually(lambda: _true(api.to(DESK)), 5, "reply in the group")
    assert inbound.commands == [(ANN, ANN, "status", ["now"]), (BOB, DESK, "help", [])]
    assert [(d.via, d.texts()) for d in api.delivered] == [("reply", ["pong"]), ("reply", ["pong"])]


async def test_stale_or_used_reply_token_falls_back_to_push(
    api: FakeLineApi, line: LineChannel, inbound: RecordingInbound
) -> None:
    lp = platform(api, line)
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/status", age_s=70)])  # older than reply_window_s
        await eventually(lambda: _true(api.to(ANN)), 5, "pushed answer")
        api.reply_ttl_s = 0.0  # the token dies before the bot uses it → Invalid reply token
        await lp.post(s, [lp.text(ANN, "/status")])
        await eventually(lambda: _true(len(api.to(ANN)) == 2), 5, "second pushed answer")
    assert [d.via for d in api.to(ANN)] == ["push", "push"]
    assert ("reply", 400) in api.requests


async def test_postbacks_and_redelivery(
    api: FakeLineApi, line: LineChannel, inbound: RecordingInbound
) -> None:
    lp = platform(api, line)
    tap = lp.postback(BOB, "m.kill.confirm.xxxxxxxxxxxx", group=DESK)
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [tap])
        redelivered = {**tap, "deliveryContext": {"isRedelivery": True}}
        await lp.post(s, [redelivered])
    await line.webhook.idle()
    assert inbound.taps == [(BOB, "m.kill.confirm.xxxxxxxxxxxx", DESK)]
    assert [d.texts() for d in api.to(DESK)] == [["tapped m.kill.confirm.xxxxxxxxxxxx"]]


async def test_replies_with_buttons_and_charts(
    api: FakeLineApi, line: LineChannel, inbound: RecordingInbound, tmp_path: Path
) -> None:
    chart = tmp_path / "stream-sim-BTCUSDT-15m-1-abc.png"
    chart.write_bytes(PNG)
    buttons = (Button("⛔ Halt trading", "m.kill.confirm.t"), Button("Cancel", "m.kill.cancel.t"))
    inbound.reply = Reply("Halt trading?", attachments=(chart,), buttons=buttons)
    lp = platform(api, line)
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/kill")])
    await eventually(lambda: _true(api.to(ANN)), 5, "reply")
    [reply] = api.to(ANN)
    assert [m["type"] for m in reply.messages] == ["flex", "image"]
    assert reply.postbacks() == ["m.kill.confirm.t", "m.kill.cancel.t"]


async def test_quota_reached_pauses_pushes_but_replies_still_work(
    api: FakeLineApi, line: LineChannel, inbound: RecordingInbound
) -> None:
    api.quota = 1
    assert await line.send_notice(DESK, Notice("⛔ Kill switch tripped"))
    assert not await line.send_notice(DESK, Notice("second"))  # 429 monthly limit
    pushes = push_count(api)
    assert not await line.send_notice(DESK, Notice("third"))  # not even tried
    assert push_count(api) == pushes
    lp = platform(api, line)
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/status")])
    await eventually(lambda: _true(api.to(ANN)), 5, "a free reply")


async def test_rate_limit_and_outage_are_retried_once_delivered(
    api: FakeLineApi, line: LineChannel
) -> None:
    api.script_error("push", 429, "The API rate limit has been exceeded. Try again later.")
    api.script_error("push", 500, "Internal server error")
    assert await line.send_notice(DESK, Notice("fill: BUY 0.0688 BTC"))
    assert [d.texts() for d in api.to(DESK)] == [["fill: BUY 0.0688 BTC"]]
    assert [r for r in api.requests if r[0] == "push"] == [
        ("push", 429),
        ("push", 500),
        ("push", 200),
    ]


async def test_bad_token_or_plan_fails_without_retry_or_leak(
    api: FakeLineApi, line: LineChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.script_error("push", 403, "Access to this API is not available for your account")
    assert not await line.send_notice(DESK, Notice("x"))
    api.access_token = "rotated"
    assert not await line.send_notice(DESK, Notice("y"))
    assert [r[1] for r in api.requests] == [403, 401]
    assert "Authentication failed" in caplog.text
    assert SECRET not in caplog.text and "fake-line-channel-access-token" not in caplog.text


async def test_outcome_and_event_filter(api: FakeLineApi, line: LineChannel) -> None:
    assert line.accepts("confirmation") and line.accepts("kill") and not line.accepts("fvg")
    from bot.channel import SentMessage

    await line.finalize(SentMessage("line", DESK, "1"), "🟢 LONG BTCUSDT\n✅ Approved by ann")
    assert api.to(DESK)[0].texts() == ["🟢 LONG BTCUSDT\n✅ Approved by ann"]


async def test_the_reply_window_is_judged_on_the_bots_clock(
    api: FakeLineApi, clocked: LineChannel, clock: FakeClock
) -> None:
    lp = platform(api, clocked)
    sent_at = clock.now_ms()
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/status", at_ms=sent_at)])
        await eventually(lambda: _true(api.to(ANN)), 5, "replied answer")
        clock.advance(49)  # still inside the window
        await lp.post(s, [lp.text(ANN, "/status", at_ms=sent_at)])
        await eventually(lambda: _true(len(api.to(ANN)) == 2), 5, "second replied answer")
        clock.advance(2)  # 51 s after the event: its token is not even tried
        await lp.post(s, [lp.text(ANN, "/status", at_ms=sent_at)])
        await eventually(lambda: _true(len(api.to(ANN)) == 3), 5, "pushed answer")
    assert [d.via for d in api.to(ANN)] == ["reply", "reply", "push"]
    assert [r for r in api.requests if r[0] == "reply"] == [("reply", 200), ("reply", 200)]


async def test_image_urls_expire_on_the_bots_clock(
    api: FakeLineApi, clocked: LineChannel, clock: FakeClock, tmp_path: Path
) -> None:
    chart = tmp_path / "stream-sim-BTCUSDT-15m-7-abc.png"
    chart.write_bytes(PNG)
    assert await clocked.send_notice(DESK, Notice("BOS up BTCUSDT 15m", image=chart))
    [url] = api.to(DESK)[0].image_urls()
    async with aiohttp.ClientSession() as s:
        async with s.get(local(clocked, url)) as resp:
            assert resp.status == 200 and await resp.read() == PNG
        clock.advance(60)  # the last second of its TTL
        async with s.get(local(clocked, url)) as resp:
            assert resp.status == 200
        clock.advance(1)
        async with s.get(local(clocked, url)) as resp:
            assert resp.status == 404


async def test_the_quota_pause_ends_when_the_clock_passes_it(
    api: FakeLineApi, clocked: LineChannel, clock: FakeClock
) -> None:
    api.quota = 1
    assert await clocked.send_notice(DESK, Notice("first"))
    assert not await clocked.send_notice(DESK, Notice("second"))  # 429 monthly limit
    api.quota = None  # a new month at LINE: only the bot's pause holds pushes back now
    clock.advance(QUOTA_PAUSE_S - 1)
    pushes = push_count(api)
    assert not await clocked.send_notice(DESK, Notice("still paused"))
    assert push_count(api) == pushes  # not even tried
    clock.advance(1)
    assert await clocked.send_notice(DESK, Notice("back"))
    assert [d.texts() for d in api.to(DESK)] == [["first"], ["back"]]


def push_count(api: FakeLineApi) -> int:
    """Push requests the fake LINE platform has received so far."""
    return len([r for r in api.requests if r[0] == "push"])


async def _true(value: object) -> bool:
    await asyncio.sleep(0)
    return bool(value)
