"""Console, Telegram and LINE read the one command table (real database, real adapters on
their fakes): the same help per role, the same /kill confirmation and role check, and one
decision approved from LINE edits Telegram's copy."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.access import AccessList
from bot.approvals import ApprovalService
from bot.commands.catalog import COMMANDS
from bot.console import ConsoleChannel
from bot.context import BotContext
from bot.desk import Desk
from bot.line.channel import LineChannel
from bot.telegram import TelegramChannel
from greenlight.core.clock import SystemClock
from greenlight.core.settings import AccessUser, Settings
from tests.fakes.chat import NoCharts, RecordingRouter
from tests.fakes.decisions import make_decision
from tests.fakes.line_api import FakeLineApi
from tests.fakes.line_webhook import LinePlatform, group_id, user_id
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import eventually

SECRET = "line-secret-one-table-0123456789"
ANN, BOB, DESK = user_id(), user_id(), group_id()
TG_CHAT = 1001


@dataclass
class Stack:
    desk: Desk
    router: RecordingRouter
    console: ConsoleChannel
    out: io.StringIO
    tg: FakeTelegramApi
    line_api: FakeLineApi
    line: LineChannel
    svc: ApprovalService

    def platform(self) -> LinePlatform:
        return LinePlatform(
            self.line_api, SECRET, f"http://127.0.0.1:{self.line.webhook.port}/line/webhook"
        )


@pytest.fixture
async def stack(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Stack]:
    users = (
        AccessUser(channel="console", user_id="local", role="trader", name="me"),
        AccessUser(channel="telegram", user_id=str(TG_CHAT), role="trader", name="tom"),
        AccessUser(channel="line", user_id=ANN, role="trader", name="ann"),
        AccessUser(channel="line", user_id=BOB, role="viewer", name="bob"),
    )
    tg, line_api = FakeTelegramApi(chats=[TG_CHAT]), FakeLineApi()
    await tg.start()
    await line_api.start()
    out = io.StringIO()
    console = ConsoleChannel(out=out, read_stdin=False)
    telegram = TelegramChannel(
        tg.token,
        tg.base_url,
        [TG_CHAT],
        poll_timeout=1,
        commands=[(c.name, c.role, c.help) for c in COMMANDS.rows],
        users=[(str(TG_CHAT), "trader")],
    )
    line = LineChannel(
        line_api.access_token,
        SECRET,
        line_api.base_url,
        (ANN, DESK),
        "https://bot.example.test",
        tmp_path,
        webhook=("127.0.0.1", 0, "/line/webhook"),
    )
    router, access = RecordingRouter(), AccessList(users)
    key = b"t" * 32
    channels = [console, telegram, line]
    clock = SystemClock()
    svc = ApprovalService(Settings(), pool, channels, router, access, NoCharts(), key, clock)
    ctx = BotContext(Settings(), pool, access, svc, router, NoCharts(), key, clock)
    desk = Desk(ctx, COMMANDS)
    for ch in channels:
        await ch.start(desk)
    yield Stack(desk, router, console, out, tg, line_api, line, svc)
    for ch in channels:
        await ch.stop()
    await tg.stop()
    await line_api.stop()


async def test_help_is_the_same_table_on_every_channel(stack: Stack) -> None:
    expected = COMMANDS.help_text("trader")
    assert await stack.console.handle_line("/help") == expected
    stack.tg.inject_message(TG_CHAT, TG_CHAT, "/help")
    lp = stack.platform()
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/help")])
    await eventually(lambda: _true(stack.tg.sent(TG_CHAT) and stack.line_api.to(ANN)), 10, "help")
    assert stack.tg.sent(TG_CHAT)[0].text == expected
    assert stack.line_api.to(ANN)[0].texts() == [expected]
    menu = stack.tg.menu({"type": "chat", "chat_id": TG_CHAT})
    assert menu == [c.name for c in COMMANDS.visible_to("trader")]


async def test_kill_asks_then_halts_on_every_channel(stack: Stack) -> None:
    await stack.console.handle_line("kill")
    assert "Type: kill confirm  (⛔ Halt trading)  |  kill cancel  (Cancel)" in stack.out.getvalue()
    await stack.console.handle_line("kill confirm")
    assert stack.router.kills == [(False, "me")]
    stack.tg.inject_message(TG_CHAT, TG_CHAT, "/kill")
    await eventually(lambda: _true(stack.tg.sent(TG_CHAT)), 10, "telegram question")
    question = stack.tg.sent(TG_CHAT)[0]
    stack.tg.inject_callback(TG_CHAT, TG_CHAT, question.message_id, question.callback_data()[0])
    await eventually(lambda: _true(len(stack.router.kills) == 2), 10, "telegram kill")
    lp = stack.platform()
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/kill", group=DESK)])
        await eventually(lambda: _true(stack.line_api.to(DESK)), 10, "line question")
        confirm = stack.line_api.to(DESK)[0].postbacks()[0]
        await lp.post(s, [lp.postback(BOB, confirm, group=DESK)])  # a viewer in the group
        await eventually(lambda: _true(len(stack.line_api.to(DESK)) == 2), 10, "refusal")
        assert "needs the trader role" in stack.line_api.to(DESK)[1].texts()[0]
        await lp.post(s, [lp.postback(ANN, confirm, group=DESK)])
    await eventually(lambda: _true(len(stack.router.kills) == 3), 10, "line kill")
    assert stack.router.kills == [(False, "me"), (False, "tom"), (False, "ann")]


async def test_a_decision_approved_on_line_is_shown_decided_on_telegram(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    did = await make_decision(pool)
    assert await stack.svc.present(did)
    [tg_copy] = stack.tg.sent(TG_CHAT)
    [line_copy] = stack.line_api.to(ANN)
    approve = line_copy.postbacks()[0]
    assert tg_copy.callback_data()[0] == approve  # the same signed token on both
    lp = stack.platform()
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.postback(ANN, approve)])
    await eventually(lambda: _true(stack.router.submitted == [did]), 10, "routed")
    await eventually(lambda: _true(stack.tg.sent(TG_CHAT)[0].edits), 10, "telegram edited")
    assert "Approved by ann" in (stack.tg.sent(TG_CHAT)[0].text or "")

    def said(words: str) -> bool:
        return any(words in t for d in stack.line_api.to(ANN) for t in d.texts())

    await eventually(lambda: _true(said("approved and sent")), 10, "the tapper's answer")
    assert said("Approved by ann")  # the outcome pushed (LINE cannot edit)


async def _true(value: object) -> bool:
    return bool(value)
