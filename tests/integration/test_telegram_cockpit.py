"""The Telegram channel's cockpit behaviour against the fake Bot API: taps answered within a
second whatever the bot does, command buttons, replies threaded, one flood gate for the whole
bot, the capitalised "message is not modified", and webhook mode with its secret header."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channel import Button, Confirmation, Notice, Reply
from bot.telegram import TelegramChannel
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import eventually

CHATS = (1001, -2002)


class SlowInbound:
    """Answers taps after ``delay`` seconds (a router that takes its time)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.taps: list[tuple[str, str, str]] = []

    async def on_tap(self, channel: str, user_id: str, token: str, chat_id: str = "") -> Reply:
        self.taps.append((user_id, token, chat_id))
        await asyncio.sleep(self.delay)
        if token.startswith("m."):
            return Reply("⛔ Trading halted by ann.")
        return Reply("#D-7 approved and sent to the exchange.")

    async def on_command(
        self, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
    ) -> Reply:
        return Reply("Halt trading?", buttons=(Button("⛔ Halt trading", "m.kill.confirm.x"),))

    async def on_refused(self, channel: str, what: str, detail: dict[str, object]) -> None:
        return None


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    fake = FakeTelegramApi(chats=CHATS)
    await fake.start()
    yield fake
    await fake.stop()


def make(api: FakeTelegramApi, **kw: object) -> TelegramChannel:
    return TelegramChannel(
        api.token, api.base_url, CHATS, poll_timeout=1, max_retry_wait=3.0, backoff=0.05, **kw
    )  # type: ignore[arg-type]


async def test_slow_approval_is_answered_at_once_and_the_outcome_follows_threaded(
    api: FakeTelegramApi,
) -> None:
    chan, inbound = make(api), SlowInbound(delay=2.0)
    await chan.start(inbound)
    try:
        conf = Confirmation(7, "🟢 LONG BTCUSDT #D-7", None, (Button("✅ Approve", "a.7.x"),))
        copy = (await chan.send_confirmation(conf))[0]
        tapped = time.monotonic()
        api.inject_callback(int(copy.chat_id), 42, int(copy.message_id), "a.7.x")
        await eventually(lambda: _true(api.answered_callbacks), 5, "callback answered")
        answered = time.monotonic() - tapped
        assert answered < 1.0 and api.answered_callbacks[0].text == "⏳ Working on it…"
        await eventually(lambda: _true(len(api.sent(1001)) == 2), 10, "outcome message")
        outcome = api.sent(1001)[1]
        assert outcome.text == "#D-7 approved and sent to the exchange."
        assert outcome.reply_to == int(copy.message_id)
    finally:
        await chan.stop()


async def test_command_button_reply_is_threaded_and_its_buttons_removed(
    api: FakeTelegramApi,
) -> None:
    chan, inbound = make(api), SlowInbound(delay=0.0)
    await chan.start(inbound)
    try:
        api.inject_message(-2002, 7, "/kill")
        await eventually(lambda: _true(api.sent(-2002)), 5, "the question")
        question = api.sent(-2002)[0]
        assert question.text == "Halt trading?" and question.reply_to == 1
        assert question.callback_data() == ["m.kill.confirm.x"]
        api.inject_callback(-2002, 7, question.message_id, "m.kill.confirm.x")
        await eventually(lambda: _true(len(api.sent(-2002)) == 2), 5, "the kill reply")
        done = api.sent(-2002)[1]
        assert done.text == "⛔ Trading halted by ann." and done.reply_to == question.message_id
        assert api.sent(-2002)[0].reply_markup is None  # no second tap on the same question
        assert api.answered_callbacks[0].text in (None, "")
        assert inbound.taps == [("7", "m.kill.confirm.x", "-2002")]
    finally:
        await chan.stop()


async def test_retry_after_holds_every_send_of_the_bot(
    api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    chan = make(api)
    await chan.start(SlowInbound(0))
    caplog.set_level(logging.WARNING, logger="bot.telegram")
    try:
        api.script_error(
            "sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=1001
        )
        first = asyncio.create_task(chan.send_notice("1001", Notice("to the private chat")))
        await eventually(lambda: _true(api.calls_of("sendMessage")), 5, "the refused send")
        refused_at = api.calls_of("sendMessage")[0].at
        # the fake records the call before the bot has read its 429: wait until it has
        await eventually(lambda: _true("rate-limited" in caplog.text), 5, "the bot saw the 429")
        await chan.send_notice("-2002", Notice("to the group"))  # another chat: waits too
        await first
        group_call = next(c for c in api.calls_of("sendMessage") if c.params["chat_id"] == "-2002")
        assert group_call.at - refused_at >= 0.9
        assert [m.text for m in api.sent(1001)] == ["to the private chat"]
    finally:
        await chan.stop()


async def test_not_modified_is_recognised_in_ptb_capitalised_form(
    api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    chan = make(api)
    await chan.start(SlowInbound(0))
    try:
        conf = Confirmation(8, "text only", None, (Button("✅ Approve", "a.8.x"),))
        copy = (await chan.send_confirmation(conf))[0]
        caplog.set_level(logging.WARNING)
        await chan.finalize(copy, "✅ Approved by ann")
        second = await chan.send_confirmation(conf)  # same message finalized twice below
        await chan.finalize(second[0], "✅ Approved by ann")
        await chan.finalize(second[0], "✅ Approved by ann")  # "Message is not modified"
        assert not [r for r in caplog.records if "finalize" in r.getMessage()]
        assert len(api.calls_of("editMessageText")) == 3
    finally:
        await chan.stop()


async def test_webhook_mode_checks_the_secret_header(api: FakeTelegramApi) -> None:
    inbound = SlowInbound(0)
    chan = make(api, webhook=("https://bot.example.test/tg", "127.0.0.1", 0, "/tg"))
    await chan.start(inbound)
    try:
        assert api.webhook_url == "https://bot.example.test/tg" and api.webhook_secret
        assert not api.calls_of("getUpdates")
        api.webhook_target = f"http://127.0.0.1:{chan.webhook_port}/tg"
        async with aiohttp.ClientSession() as session:
            api.inject_message(1001, 7, "/kill")
            assert await api.deliver_webhook(session, secret="forged-secret") == 0
            assert await api.deliver_webhook(session, secret="") == 0
            assert api.webhook_responses == [403, 403] and api.sent(1001) == []
            assert await api.deliver_webhook(session) == 1
        await eventually(lambda: _true(api.sent(1001)), 5, "the reply to a webhook update")
        assert api.sent(1001)[0].text == "Halt trading?"
    finally:
        await chan.stop()


async def _true(value: object) -> bool:
    return bool(value)
