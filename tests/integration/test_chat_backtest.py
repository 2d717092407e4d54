"""``/backtest SYMBOL FROM TO`` through the real channels on their fakes (console, Telegram
via python-telegram-bot, LINE via line-bot-sdk), a real database and the real worker process
on the bundled BTCUSDT candles: the admin's progress message is edited, the result is
``equity.png`` with figures equal to ``summary.json`` of the same run through the
``greenlight backtest`` entry point; one run at a time; a run past its time bound is killed;
non-admins and bad arguments are refused and audited.

Where a test needs the run to hold still (a progress edit to come, a second request to arrive
while it runs, a time bound to pass, the bot to stop), the news calendar the run reads is a
named pipe the test writes the real calendar into only when it is ready: the worker waits
there, at 10 %, however fast or slow the machine is.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.access import AccessList
from bot.approvals import ApprovalService
from bot.backtest_jobs import BacktestJob
from bot.commands.catalog import COMMANDS
from bot.console import ConsoleChannel
from bot.context import BotContext
from bot.desk import Desk
from bot.line.channel import LineChannel
from bot.telegram import TelegramChannel
from engine.backtest.cli import run_backtest
from greenlight.core.clock import SystemClock
from greenlight.core.settings import AccessUser, Settings, load_settings
from tests.fakes.chat import NoCharts, RecordingRouter
from tests.fakes.line_api import FakeLineApi
from tests.fakes.line_webhook import LinePlatform, user_id
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_objects import BotMessage
from tests.helpers import eventually

REPO = Path(__file__).resolve().parents[2]
SECRET = "line-secret-chat-backtest-0123456"
ANN, BOB = user_id(), user_id()
TOM, TIM = 1001, 1002  # Telegram admin and trader, each in their private chat
RUN = ("BTCUSDT", "2020-05-28", "2020-06-08")  # 12 days of real candles with 2 trades
NEWS = REPO / "data" / "news" / "us-macro-2019-2021.csv"


@dataclass
class Stack:
    desk: Desk
    console: ConsoleChannel
    out: io.StringIO
    tg: FakeTelegramApi
    line_api: FakeLineApi
    line: LineChannel
    runs: Path

    @property
    def ctx(self) -> BotContext:
        return self.desk.ctx

    def platform(self) -> LinePlatform:
        return LinePlatform(
            self.line_api, SECRET, f"http://127.0.0.1:{self.line.webhook.port}/line/webhook"
        )

    def bound(self, **backtest: Any) -> None:
        s = self.ctx.settings
        self.ctx.settings = s.model_copy(
            update={"backtest": s.backtest.model_copy(update=backtest)}
        )

    def hold(self, fifo: Path) -> Path:
        """The next run waits at its news calendar until :func:`_release`."""
        os.mkfifo(fifo)
        s = self.ctx.settings
        news = s.news.model_copy(update={"calendar_file": str(fifo)})
        self.ctx.settings = s.model_copy(update={"news": news})
        return fifo


def _settings(runs: Path) -> Settings:
    base = load_settings(REPO / "settings.toml", env={})
    chat = {"chat_out_dir": str(runs)}
    return base.model_copy(update={"backtest": base.backtest.model_copy(update=chat)})


@pytest.fixture
async def stack(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Stack]:
    users = (
        AccessUser(channel="console", user_id="local", role="admin", name="me"),
        AccessUser(channel="telegram", user_id=str(TOM), role="admin", name="tom"),
        AccessUser(channel="telegram", user_id=str(TIM), role="trader", name="tim"),
        AccessUser(channel="line", user_id=ANN, role="admin", name="ann"),
        AccessUser(channel="line", user_id=BOB, role="trader", name="bob"),
    )
    tg, line_api = FakeTelegramApi(chats=[TOM, TIM]), FakeLineApi()
    await tg.start()
    await line_api.start()
    out = io.StringIO()
    console = ConsoleChannel(out=out, read_stdin=False)
    telegram = TelegramChannel(
        tg.token,
        tg.base_url,
        [TOM, TIM],
        poll_timeout=1,
        commands=[(c.name, c.role, c.help) for c in COMMANDS.rows],
        users=[(str(TOM), "admin"), (str(TIM), "trader")],
    )
    (tmp_path / "charts").mkdir()
    line = LineChannel(
        line_api.access_token,
        SECRET,
        line_api.base_url,
        (ANN,),
        "https://bot.example.test",
        tmp_path / "charts",
        webhook=("127.0.0.1", 0, "/line/webhook"),
    )
    settings, router, access = _settings(tmp_path / "runs"), RecordingRouter(), AccessList(users)
    key = b"b" * 32
    channels = [console, telegram, line]
    clock = SystemClock()
    svc = ApprovalService(settings, pool, channels, router, access, NoCharts(), key, clock)
    desk = Desk(BotContext(settings, pool, access, svc, router, NoCharts(), key, clock), COMMANDS)
    for ch in channels:
        await ch.start(desk)
    yield Stack(desk, console, out, tg, line_api, line, tmp_path / "runs")
    await desk.ctx.backtests.close()  # kills a worker a failed test left (even a stopped one)
    for ch in channels:
        await ch.stop()
    await tg.stop()
    await line_api.stop()


async def _running(stack: Stack, label: str) -> BacktestJob:
    async def probe() -> BacktestJob | None:
        job = stack.ctx.backtests.current
        ok = job is not None and job.pid is not None and job.label.startswith(label)
        return job if ok else None

    job = await eventually(probe, 60, f"a running worker at {label!r}")
    assert job is not None
    return job


async def _release(fifo: Path) -> None:
    """Let the held run go on: the real calendar through the pipe."""
    await asyncio.to_thread(fifo.write_bytes, NEWS.read_bytes())


async def _idle(stack: Stack) -> None:
    await eventually(lambda: _true(stack.ctx.backtests.current is None), 120, "the run's end")


def _cli_run(command: str, out: Path) -> dict[str, Any]:
    """``greenlight backtest`` (its entry point, the repository's settings.toml) with the
    arguments the chat said it ran, into ``out``."""
    words = shlex.split(command.removeprefix("Same as: ").removesuffix(" --out DIR"))
    assert words[:2] == ["greenlight", "backtest"]
    cwd = os.getcwd()
    os.chdir(REPO)  # the command's paths are relative to the repository
    try:
        code = run_backtest(
            [*words[2:], "--out", str(out)], load_settings(REPO / "settings.toml", env={})
        )
    finally:
        os.chdir(cwd)
    assert code == 0
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def _expected_lines(f: dict[str, Any]) -> list[str]:
    """The figures as the chat must show them, straight from summary.json."""

    def money(v: str) -> str:
        return f"{Decimal(v):,.2f}"

    return [
        f"{f['candles']:,} candles, the first 300 only warming up · agent fusion",
        f"Trades {f['trades']} · win rate {f['win_rate'] * 100:.1f}% · "
        f"profit factor {f['profit_factor']:.2f}",
        f"Expectancy {f['expectancy_r']:+.2f}R · max drawdown {f['max_drawdown_pct']:.2f}%",
        f"Equity {money(f['start_equity_quote'])} → {money(f['final_equity_quote'])} USDT · "
        f"fees {money(f['fees_quote'])} USDT",
    ]


async def test_telegram_admin_gets_equity_png_and_the_figures_of_greenlight_backtest(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    stack.tg.inject_message(TOM, TOM, "/backtest " + " ".join(RUN))
    command_id = 1  # the first message of the chat
    await eventually(lambda: _true(len(stack.tg.sent(TOM)) == 2), 120, "the result")
    await _idle(stack)
    [progress, photo] = stack.tg.sent(TOM)
    assert progress.reply_to == command_id and photo.reply_to == command_id
    assert progress.edits and (progress.text or "").startswith("✅ Backtest BTCUSDT spot 15m")
    assert photo.photo_bytes is not None
    lines = (photo.caption or "").splitlines()
    assert lines[0] == "📊 Backtest BTCUSDT spot 15m · 2020-05-28 → 2020-06-08"
    # the same run through greenlight backtest: the same files, figures and picture
    cli = _cli_run(lines[-1], tmp_path / "cli")
    assert lines[1:5] == _expected_lines(cli)
    assert cli["trades"] == 2
    chat_out = REPO / lines[5].removeprefix("Output: ").rstrip("/")  # absolute stays absolute
    assert chat_out.parent == stack.runs
    for name in ("summary.json", "trades.csv", "equity.png"):
        assert (chat_out / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    assert photo.photo_bytes == (tmp_path / "cli" / "equity.png").read_bytes()
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, action, detail FROM audit_log ORDER BY id")
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("tom", "backtest.started"),
        ("tom", "backtest.done"),
    ]
    started = _detail(rows[0])
    assert started["by"] == f"telegram:{TOM}" and started["command"] in lines[-1]
    assert _detail(rows[1])["trades"] == 2


async def test_progress_is_edited_in_and_a_second_run_is_told_busy(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    fifo = stack.hold(tmp_path / "news.csv")
    stack.tg.inject_message(TOM, TOM, "/backtest " + " ".join(RUN))
    await _running(stack, "news calendar")  # waiting at the pipe, 10 % done
    progress = await eventually(lambda: _first(stack.tg.sent(TOM)), 10, "progress message")
    assert (progress.text or "").startswith("⏳ Backtest BTCUSDT spot 15m · 2020-05-28")
    await eventually(lambda: _true(progress.edits), 10, "a progress edit")
    assert progress.edits[0]["text"].startswith(
        "⏳ Backtest BTCUSDT spot 15m · 2020-05-28 → 2020-06-08\n"
        "▰▱▱▱▱▱▱▱▱▱ 10% · reading the news calendar · "
    )
    # a second request, from another channel, while it runs
    busy = await stack.console.handle_line("/backtest BTCUSDT 2020-01-01 2020-01-02")
    assert busy is not None and busy.startswith("⏳ Busy: a backtest is running (BTCUSDT spot")
    assert "started by tom" in busy and "10% done" in busy
    await _release(fifo)
    await _idle(stack)
    texts = [e["text"] for e in progress.edits]
    percents = [int(t.split("% ·")[0].split()[-1]) for t in texts[:-1]]
    assert percents == sorted(set(percents))  # an edit only when the percentage moved on
    assert texts[-1].startswith("✅ Backtest BTCUSDT spot 15m · 2020-05-28 → 2020-06-08")
    assert stack.tg.sent(TOM)[1].photo_bytes is not None
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, action, detail FROM audit_log ORDER BY id")
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("tom", "backtest.started"),
        ("me", "backtest.refused"),
        ("tom", "backtest.done"),
    ]
    assert _detail(rows[1])["why"] == "busy"


async def test_line_gets_the_start_and_the_end_only(stack: Stack, tmp_path: Path) -> None:
    lp = stack.platform()
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(ANN, "/backtest " + " ".join(RUN))])
        await eventually(lambda: _true(len(stack.line_api.to(ANN)) >= 2), 120, "the result")
        await _idle(stack)
        [start, end] = stack.line_api.to(ANN)  # LINE cannot edit: no progress in between
        assert (start.via, end.via) == ("reply", "push")
        assert start.texts()[0].startswith("⏳ Backtest BTCUSDT spot 15m · 2020-05-28")
        text = end.texts()[0]
        assert text.startswith("📊 Backtest BTCUSDT spot 15m · 2020-05-28 → 2020-06-08")
        [url] = end.image_urls()
        local = url.replace(
            "https://bot.example.test", f"http://127.0.0.1:{stack.line.webhook.port}"
        )
        async with s.get(local) as resp:
            assert resp.status == 200
            png = await resp.read()
    cli = _cli_run(text.splitlines()[-1], tmp_path / "cli")
    assert png == (tmp_path / "cli" / "equity.png").read_bytes()
    assert text.splitlines()[1:5] == _expected_lines(cli)


async def test_a_run_past_its_time_bound_is_killed(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    stack.hold(tmp_path / "news.csv")  # never released: it cannot finish in time
    stack.bound(chat_timeout_s=1.0)
    start = await stack.console.handle_line("backtest BTCUSDT 2020-05-11 2020-05-20")
    assert start is not None and start.startswith("⏳ Backtest BTCUSDT")
    job = stack.ctx.backtests.current  # set before the reply; it ends only after the bound
    assert job is not None
    await _idle(stack)
    pid = job.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    printed = stack.out.getvalue()
    assert printed.count("⏱ Backtest") == 1 and "📊" not in printed
    assert (
        "[progress] ⏱ Backtest BTCUSDT spot 15m · 2020-05-11 → 2020-05-20\nstopped: it ran past "
        "its time bound of 1 s (backtest.chat_timeout_s), so the worker was killed"
    ) in printed
    async with pool.acquire() as conn:
        actions = await conn.fetch("SELECT action FROM audit_log ORDER BY id")
    assert [r["action"] for r in actions] == ["backtest.started", "backtest.timeout"]


async def test_a_run_that_fails_says_why(stack: Stack, pool: asyncpg.Pool, tmp_path: Path) -> None:
    fifo = stack.hold(tmp_path / "news.csv")
    await stack.console.handle_line("backtest BTCUSDT 2020-05-11 2020-05-20")
    await _running(stack, "news calendar")
    bad = b"start,end,severity,scope,title\n2020-05-12T12:30:00Z,soon,HIGH,USD,CPI\n"
    await asyncio.to_thread(fifo.write_bytes, bad)
    await _idle(stack)
    printed = stack.out.getvalue()
    assert (
        "[progress] ❌ Backtest BTCUSDT spot 15m · 2020-05-11 → 2020-05-20\nfailed: news.csv:2"
        in (printed)
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT action, detail FROM audit_log ORDER BY id")
    assert [r["action"] for r in rows] == ["backtest.started", "backtest.failed"]
    assert _detail(rows[1])["error"].startswith("news.csv:2")


async def test_a_bot_shutting_down_kills_the_worker_and_says_so(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    stack.hold(tmp_path / "news.csv")
    await stack.console.handle_line("backtest BTCUSDT 2020-05-11 2020-05-20")
    pid = (await _running(stack, "news calendar")).pid or 0
    await stack.ctx.backtests.close()  # what serve_bot does on its way out
    assert stack.ctx.backtests.current is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "⏹ Backtest BTCUSDT spot 15m · 2020-05-11 → 2020-05-20\nstopped: the bot is " in (
        stack.out.getvalue()
    )
    async with pool.acquire() as conn:
        actions = await conn.fetch("SELECT action FROM audit_log ORDER BY id")
    assert [r["action"] for r in actions] == ["backtest.started", "backtest.stopped"]


async def test_non_admins_and_bad_arguments_are_refused_and_audited(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    stack.tg.inject_message(TIM, TIM, "/backtest BTCUSDT 2020-05-11 2020-05-20")
    lp = stack.platform()
    async with aiohttp.ClientSession() as s:
        await lp.post(s, [lp.text(BOB, "/backtest BTCUSDT 2020-05-11 2020-05-20")])
    await eventually(lambda: _true(stack.tg.sent(TIM) and stack.line_api.to(BOB)), 10, "refusals")
    refusal = "Not authorised: /backtest needs the admin role."
    assert stack.tg.sent(TIM)[0].text == refusal
    assert stack.line_api.to(BOB)[0].texts() == [refusal]
    console = stack.console
    valid = "Backtests can run on: BTCUSDT spot 15m 2018-12-31 → 2020-12-31."
    assert await console.handle_line("backtest ETHUSDT 2020-05-11 2020-05-20") == (
        f"No candle data for ETHUSDT. {valid}"
    )
    usage = await console.handle_line("backtest")
    assert (
        usage is not None and usage.startswith("Usage: /backtest SYMBOL FROM TO") and valid in usage
    )
    assert await console.handle_line("backtest BTCUSDT 2020-06-01 2020-05-01") == (
        "TO 2020-05-01 is before FROM 2020-06-01."
    )
    assert await console.handle_line("backtest BTCUSDT 2020-12-01 2021-01-31") == (
        "BTCUSDT candle data covers 2018-12-31 → 2020-12-31; 2020-12-01 → 2021-01-31 is outside it."
    )
    long = await console.handle_line("backtest BTCUSDT 2019-01-01 2020-06-30")
    assert long is not None and "is 547 days; at most 366 per chat backtest" in long
    bad = await console.handle_line("backtest BTCUSDT 1.5.2020 2020-05-20")
    assert bad is not None and "UTC dates like 2020-03-01 (got '1.5.2020')" in bad
    assert stack.ctx.backtests.current is None  # nothing was started
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, action, detail FROM audit_log ORDER BY id")
    refused = [
        (r["actor"], _detail(r)["command"]) for r in rows if r["action"] == "command.refused"
    ]
    assert sorted(refused) == sorted([(f"telegram:{TIM}", "backtest"), (f"line:{BOB}", "backtest")])
    mine = [_detail(r)["why"] for r in rows if r["action"] == "backtest.refused"]
    assert mine == ["input"] * 6
    # the table gives the help and the menus: admins see /backtest, traders do not
    assert "/backtest SYMBOL FROM TO" in COMMANDS.help_text("admin")
    assert "/backtest" not in COMMANDS.help_text("trader")
    assert "backtest" in stack.tg.menu({"type": "chat", "chat_id": TOM})
    assert "backtest" not in stack.tg.menu({"type": "chat", "chat_id": TIM})


def _detail(row: asyncpg.Record) -> dict[str, Any]:
    value = row["detail"]
    return dict(json.loads(value) if isinstance(value, str) else value)


async def _first(messages: list[BotMessage]) -> BotMessage | None:
    return messages[0] if messages else None


async def _true(value: object) -> bool:
    return bool(value)
