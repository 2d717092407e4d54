"""Admins steer the guards from chat — console and Telegram (the real PTB channel against the
fake Bot API) — through the same approval service: /guards, /guard NAME off [DURATION],
/guard NAME on, /news, /news add. Toggles are audited, announced in every chat, bounded,
turn themselves back on, and the engine uses them from its next candle."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D

import asyncpg
import pytest

from bot.access import AccessList
from bot.alerts.delivery import AlertDelivery
from bot.approvals import ApprovalService
from bot.channel import Channel
from bot.commands.catalog import COMMANDS
from bot.console import ConsoleChannel
from bot.context import BotContext
from bot.desk import Desk
from bot.telegram import TelegramChannel
from engine.guards import toggles
from engine.guards.news_calendar import parse_time
from engine.pipeline import StreamProcessor
from greenlight.core.candlefile import read_candles
from greenlight.core.clock import SystemClock
from greenlight.core.contracts import Market
from greenlight.core.settings import AccessUser, Settings
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.fakes.chat import NoCharts, RecordingChannel, RecordingRouter
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import eventually
from tests.symbol_rules import BTCUSDT as RULES

CHAT, VIEWER, ADMIN = 1001, 42, 43
USERS = (
    AccessUser(channel="console", user_id="local", role="admin", name="ops"),
    AccessUser(channel="telegram", user_id=str(VIEWER), role="viewer", name="vic"),
    AccessUser(channel="telegram", user_id=str(ADMIN), role="admin", name="ada"),
)
KEY = b"k" * 32
TF = 900_000
FOMC = parse_time("2019-01-30T19:00:00Z")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    fake = FakeTelegramApi(chats=(CHAT,))
    await fake.start()
    yield fake
    await fake.stop()


@dataclass
class Bot:
    console: ConsoleChannel
    other: RecordingChannel  # a third channel (LINE's place): every announcement lands there
    alerts: AlertDelivery

    async def deliver(self) -> list[str]:
        await self.alerts.run_once()
        return self.other.alerts


@pytest.fixture
async def bot(pool: asyncpg.Pool, api: FakeTelegramApi) -> AsyncIterator[Bot]:
    console = ConsoleChannel(out=io.StringIO(), read_stdin=False)
    telegram = TelegramChannel(
        api.token,
        api.base_url,
        [CHAT],
        poll_timeout=1,
        backoff=0.05,
        commands=[(c.name, c.role, c.help) for c in COMMANDS.rows],
        users=[(str(VIEWER), "viewer"), (str(ADMIN), "admin")],
    )
    other = RecordingChannel("line")
    channels: list[Channel] = [console, telegram, other]
    access, router = AccessList(USERS), RecordingRouter()
    clock = SystemClock()
    svc = ApprovalService(Settings(), pool, channels, router, access, NoCharts(), KEY, clock)
    ctx = BotContext(Settings(), pool, access, svc, router, NoCharts(), KEY, clock)
    desk = Desk(ctx, COMMANDS)
    for ch in channels:
        await ch.start(desk)
    yield Bot(console, other, AlertDelivery(ctx, channels, group_window_s=0.0))
    for ch in channels:
        await ch.stop()


async def telegram_says(api: FakeTelegramApi, user: int, text: str) -> str:
    before = len(api.sent(CHAT))
    api.inject_message(CHAT, user, text)

    async def reply() -> str | None:
        sent = api.sent(CHAT)
        return (sent[-1].text or "") if len(sent) > before else None

    return await eventually(reply, timeout=10, what=f"a reply to {text}") or ""


async def engine_at_fomc(pool: asyncpg.Pool) -> StreamProcessor:
    """An engine stream whose last live candle closed 45 min before the FOMC statement."""
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    first = int((FOMC - 3 * 3_600_000 - int(data.open_time[0])) // TF)
    proc = StreamProcessor(Settings(), "sim", RULES, "15m")
    for c in candle_rows(data, "sim", "BTCUSDT", "15m", TF, first, first + 9):
        out = await proc.process(pool, c, 0.0, live=True)
    assert out.guards["news"].state == "SAFE"
    return proc


async def test_guards_are_seen_and_switched_from_console_and_telegram(
    pool: asyncpg.Pool,
    api: FakeTelegramApi,
    bot: Bot,
) -> None:
    console = bot.console
    proc = await engine_at_fomc(pool)
    text = await console.handle_line("/guards") or ""
    assert "BTCUSDT (sim)" in text and "News SAFE" in text and "Vol " in text
    assert "next window opens 2019-01-30 18:30 UTC" in text and "All guards ON." in text
    assert "News SAFE" in await telegram_says(api, VIEWER, "/guards")
    status = await telegram_says(api, VIEWER, "/status")
    assert "Guards:" in status and "BTCUSDT: News SAFE · Funding n/a · Vol" in status

    # a viewer may look, not switch
    refused = await telegram_says(api, VIEWER, "/guard news off 2h")
    assert "Not authorised" in refused
    assert "at most" in await telegram_says(api, ADMIN, "/guard news off 25h")
    reply = await telegram_says(api, ADMIN, "/guard news off 2h")
    assert "News guard OFF until" in reply and "next candle" in reply
    async with pool.acquire() as conn:
        audit = await conn.fetch("SELECT actor, detail FROM audit_log WHERE action = 'guard.off'")
        assert [r["actor"] for r in audit] == ["ada"] and "until" in audit[0]["detail"]
        assert await toggles.bypassed(conn) == {"news"}
    assert any("News guard OFF by ada" in a for a in await bot.deliver())  # to every chat
    assert any("News guard OFF by ada" in (m.text or "") for m in api.sent(CHAT))

    # the engine's next candle, inside the FOMC window, is not blocked by news any more
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    nxt = int((proc.last_open_time or 0) - int(data.open_time[0])) // TF + 1
    [c] = candle_rows(data, "sim", "BTCUSDT", "15m", TF, nxt, nxt + 1)
    out = await proc.process(pool, c, 0.0, live=True)
    news = out.guards["news"]
    assert news.state == "BLOCK" and not news.blocking and news.reason.startswith("bypassed")
    row = await pool.fetchrow("SELECT * FROM guard_state WHERE name = 'news'")
    assert not row["enabled"] and row["status"] == row["state"] == "BLOCK"  # older readers
    assert "News BLOCK (off)" in (await console.handle_line("/guards") or "")

    assert "back ON" in (await console.handle_line("/guard news on") or "")
    assert "already ON" in (await console.handle_line("/guard news on") or "")
    [c] = candle_rows(data, "sim", "BTCUSDT", "15m", TF, nxt + 1, nxt + 2)
    assert (await proc.process(pool, c, 0.0, live=True)).guards["news"].blocking


async def test_a_bypass_ends_by_itself_with_a_message(pool: asyncpg.Pool, bot: Bot) -> None:
    assert "OFF until" in (await bot.console.handle_line("/guard vol off") or "")  # 1 h
    async with pool.acquire() as conn:
        until = await conn.fetchval(
            "SELECT bypass_until - now() FROM guard_toggles WHERE name='vol'"
        )
        assert 3500 < until.total_seconds() <= 3600
        await conn.execute(
            "UPDATE guard_toggles SET bypass_until = now() - interval '1 s' WHERE name = 'vol'"
        )
        assert await toggles.bypassed(conn) == frozenset()  # past its end: ignored at once
        assert await toggles.expire(conn) == ["vol"]
        assert await toggles.expire(conn) == []
        audit = await conn.fetch("SELECT detail FROM audit_log WHERE action = 'guard.on'")
    assert [r["detail"]["by"] for r in audit] == ["expiry"]
    assert "✅ Vol guard back ON (bypass ended)." in (await bot.deliver())[-1]


async def test_news_lists_events_and_admins_add_them(
    pool: asyncpg.Pool,
    api: FakeTelegramApi,
    bot: Bot,
) -> None:
    proc = await engine_at_fomc(pool)
    text = await telegram_says(api, VIEWER, "/news")
    assert "market time 2019-01-30 18:15 UTC" in text
    assert (
        "2019-01-30 19:00 UTC (in 45m) HIGH FOMC statement" in text and "blocks 18:30–21:00" in text
    )
    assert "Not authorised" in await telegram_says(api, VIEWER, "/news add now 1h HIGH x")
    assert "Usage" in await telegram_says(api, ADMIN, "/news add now 1h")
    assert "SOON" in await telegram_says(api, ADMIN, "/news add now 1h SOON exchange maintenance")
    reply = await telegram_says(api, ADMIN, "/news add now 3h MED Exchange maintenance")
    assert reply.startswith("Added news event #1, blocking 2019-01-30 18:00 UTC")
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM news_events")
        audit = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'news.added'")
    assert row["impact"] == "MED" and row["source"] == "ada" and audit == 1
    assert any("ada added MED Exchange maintenance" in a for a in await bot.deliver())
    # the engine's next candle meets the chat's event (its window outlasts the FOMC's)
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    nxt = int((proc.last_open_time or 0) - int(data.open_time[0])) // TF + 1
    [c] = candle_rows(data, "sim", "BTCUSDT", "15m", TF, nxt, nxt + 1)
    v = (await proc.process(pool, c, 0.0, live=True)).guards["news"]
    assert v.blocking and "Exchange maintenance" in v.reason


async def test_funding_windows_are_recorded_as_events(pool: asyncpg.Pool) -> None:
    data = read_candles(DATA / "XRPUSDT-perp-5m-futures.csv")
    rules = RULES.__class__(**{**RULES.__dict__, "symbol": "XRPUSDT", "base_asset": "XRP"})
    proc = StreamProcessor(Settings(), "sim-usdm", rules, "5m", Market.USDM)
    funding = int(data.open_time[0]) // (8 * 3_600_000) * (8 * 3_600_000) + 8 * 3_600_000
    proc.hub.funding_book("sim-usdm").update("XRPUSDT", funding, D("0.0001"))
    first = int((funding - 3_600_000 - int(data.open_time[0])) // 300_000)
    states = []
    for c in candle_rows(data, "sim-usdm", "XRPUSDT", "5m", 300_000, first, first + 24):
        states.append((await proc.process(pool, c, 0.0, live=True)).guards["funding"].state)
    assert states.count("BLOCK") == 5  # closes at -15, -10, -5, 0, +5 min
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM guard_events")
    assert [(r["guard"], r["start_ms"], r["end_ms"]) for r in rows] == [
        ("funding", funding - 15 * 60_000, funding + 5 * 60_000)
    ]
    assert rows[0]["detail"] == {"funding_time": funding, "rate": "0.0001"}
