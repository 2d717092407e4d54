"""The one command table (real database): each name reaches its own handler and only it,
unknown or unhandled names reach none, roles come from the rows, pickers and confirmation
buttons run through the same role check; commands read the time from the context's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from bot import callbacks
from bot.access import AccessList
from bot.approvals import ApprovalService
from bot.channel import Reply
from bot.commands.catalog import COMMANDS
from bot.commands.table import Call, Command, CommandTable, Handler
from bot.context import BotContext
from bot.desk import Desk
from greenlight.core.clock import Clock, SystemClock
from greenlight.core.settings import AccessUser, Settings
from tests.fakes.chat import NoCharts, RecordingChannel, RecordingRouter
from tests.fakes.clock import FakeClock

KEY = b"c" * 32
USERS = (
    AccessUser(channel="telegram", user_id="1", role="trader", name="ann"),
    AccessUser(channel="telegram", user_id="3", role="viewer", name="vic"),
    AccessUser(channel="telegram", user_id="9", role="admin", name="ada"),
)


def context(
    pool: asyncpg.Pool, router: RecordingRouter, clock: Clock = SystemClock()
) -> BotContext:
    access = AccessList(USERS)
    svc = ApprovalService(
        Settings(), pool, [RecordingChannel("telegram")], router, access, NoCharts(), KEY, clock
    )
    return BotContext(Settings(), pool, access, svc, router, NoCharts(), KEY, clock)


def spy_table(calls: list[str]) -> CommandTable:
    """The catalog's rows with handlers that only record their own name."""

    def spy(name: str) -> Handler:
        async def handler(call: Call) -> Reply:
            calls.append(name)
            return Reply(name)

        return handler

    return CommandTable(
        Command(c.name, c.role, c.args, c.help, spy(c.name), aliases=c.aliases)
        for c in COMMANDS.rows
    )


async def test_every_name_reaches_its_own_handler_and_no_other(pool: asyncpg.Pool) -> None:
    calls: list[str] = []
    table, ctx = spy_table(calls), context(pool, RecordingRouter())
    for row in table.rows:
        for name in (row.name, *row.aliases):
            calls.clear()
            reply = await table.dispatch(ctx, "telegram", "9", "c", name, ["x"])
            assert calls == [row.name] and reply.text == row.name


@pytest.mark.parametrize("name", ["guardz", "halt", "newsx", "resumex", "foo", "", "Resume_"])
async def test_unknown_or_unhandled_commands_reach_no_handler(
    pool: asyncpg.Pool, name: str
) -> None:
    router = RecordingRouter()
    desk = Desk(context(pool, router), COMMANDS)
    reply = await desk.on_command("telegram", "9", "c", name, ["on"])
    assert not reply.ok and "Unknown command" in reply.text
    assert router.resumes == [] and router.kills == [] and router.submitted == []
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT value FROM control WHERE key='trading_enabled'")


def test_table_refuses_ambiguous_or_malformed_rows() -> None:
    row = COMMANDS.rows[0]
    with pytest.raises(ValueError, match="twice"):
        CommandTable([row, row])
    with pytest.raises(ValueError, match="command name"):
        Command("Bad Name", "viewer", "", "x", row.handler)
    with pytest.raises(ValueError, match="role"):
        Command("x", "root", "", "x", row.handler)  # type: ignore[arg-type]


def test_help_and_menus_come_from_the_rows() -> None:
    viewer, trader, admin = (COMMANDS.help_text(r) for r in ("viewer", "trader", "admin"))
    assert "/status" in viewer and "/kill" not in viewer and "/resume" not in trader
    assert "/kill [flatten]" in trader and "/resume" in admin
    assert "allow-list" in COMMANDS.help_text(None)
    names = "status positions orders pnl chart signals decision watch unwatch watches mute"
    for name in (names + " unmute approve reject kill resume whoami help start").split():
        assert COMMANDS.get(name) is not None, name


async def test_roles_are_checked_and_refusals_audited(pool: asyncpg.Pool) -> None:
    router = RecordingRouter()
    desk = Desk(context(pool, router), COMMANDS)
    refused = await desk.on_command("telegram", "3", "c", "resume", [])
    stranger = await desk.on_command("telegram", "404", "c", "status", [])
    assert not refused.ok and "admin" in refused.text
    assert not stranger.ok and "user id 404" in stranger.text
    assert router.resumes == []
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor FROM audit_log WHERE action='command.refused'")
    assert sorted(r["actor"] for r in rows) == ["telegram:3", "telegram:404"]


async def test_kill_asks_first_and_the_button_is_role_checked(pool: asyncpg.Pool) -> None:
    router = RecordingRouter()
    desk = Desk(context(pool, router), COMMANDS)
    ask = await desk.on_command("telegram", "1", "c", "kill", [])
    assert ask.ok and router.kills == [] and "Halt trading?" in ask.text
    yes, cancel = ask.buttons
    assert (yes.typed, cancel.typed) == ("kill confirm", "kill cancel")
    viewer = await desk.on_tap("telegram", "3", yes.token, "c")  # a viewer taps the trader's
    assert not viewer.ok and router.kills == []
    assert (await desk.on_tap("telegram", "1", cancel.token, "c")).text.startswith("Kill cancel")
    done = await desk.on_tap("telegram", "1", yes.token, "c")
    assert router.kills == [(False, "ann")]
    assert done.text.startswith("⛔ Trading halted by ann. No new entries until /resume.")
    assert "True" not in done.text and "trading enabled" not in done.text  # words, not fields
    resumed = await desk.on_command("telegram", "9", "c", "resume", [])
    assert resumed.ok and router.resumes == ["ada"]


async def test_forged_command_buttons_are_refused_and_audited(pool: asyncpg.Pool) -> None:
    router = RecordingRouter()
    desk = Desk(context(pool, router), COMMANDS)
    genuine = callbacks.encode_command("kill", ["confirm"], KEY)
    forged = [
        callbacks.encode_command("kill", ["confirm"], b"x" * 32),
        genuine.replace("m.kill.confirm", "m.resume."),
        genuine.replace("confirm", "flatten-confirm"),
        "m." + "k" * 70,
    ]
    for token in forged:
        reply = await desk.on_tap("telegram", "9", token, "c")
        assert not reply.ok and reply.text == "This button is not valid."
    assert router.kills == [] and router.resumes == []
    async with pool.acquire() as conn:
        n = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action='tap.forged'")
    assert n == len(forged)


async def test_missing_argument_offers_a_picker(pool: asyncpg.Pool) -> None:
    router = RecordingRouter()
    desk = Desk(context(pool, router), COMMANDS)
    picker = await desk.on_command("telegram", "3", "c", "watch", [])
    assert [b.label for b in picker.buttons] == ["BTCUSDT 15m"]
    watched = await desk.on_tap("telegram", "3", picker.buttons[0].token, "c")
    assert watched.ok and "Watching BTCUSDT 15m" in watched.text
    listed = await desk.on_command("telegram", "3", "c", "watches", [])
    assert "BTCUSDT 15m" in listed.text
    bad = await desk.on_command("telegram", "3", "c", "watch", ["DOGEUSDT"])
    assert not bad.ok and "BTCUSDT" in bad.text


async def test_mute_pnl_and_news_read_the_contexts_clock(pool: asyncpg.Pool) -> None:
    clock = FakeClock(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))  # a Thursday
    desk = Desk(context(pool, RecordingRouter(), clock), COMMANDS)
    muted = await desk.on_command("telegram", "3", "c", "mute", ["bos", "2h"])
    assert muted.ok and "until 2026-12-03 12:00 UTC" in muted.text
    week = await desk.on_command("telegram", "3", "c", "pnl", ["week"])
    assert week.ok and "since 2026-11-30 00:00 UTC" in week.text.splitlines()[0]
    clock.advance(3600)
    news = await desk.on_command("telegram", "3", "c", "news", [])
    assert news.text.splitlines()[0] == "News · market time 2026-12-03 11:00 UTC"
    added = await desk.on_command("telegram", "9", "c", "news", ["add", "+45m", "30m", "LOW", "x"])
    assert added.ok
    listed = await desk.on_command("telegram", "3", "c", "news", [])
    assert "2026-12-03 11:45 UTC (in 45m) LOW x" in listed.text
