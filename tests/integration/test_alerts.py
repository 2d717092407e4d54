"""Chart alerts on a real database: watched streams' BOS/CHOCH, new OB/FVG, retests and
regime changes with a chart marking them; trade alerts with the trade's chart; mutes,
bursts grouped, channel event filters, guard changes, exactly-once delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from bot.access import AccessList
from bot.alerts import store, summary
from bot.alerts.delivery import AlertDelivery
from bot.alerts.follower import GuardFollower, MarketFollower
from bot.approvals import ApprovalService
from bot.charting import BotCharts
from bot.commands.catalog import COMMANDS
from bot.context import BotContext
from bot.desk import Desk
from greenlight.core.clock import SystemClock
from greenlight.core.lifecycle import State
from greenlight.core.settings import AccessUser, Settings
from tests.fakes.chat import RecordingChannel, RecordingRouter
from tests.fakes.decisions import make_decision, walk_to
from tests.fakes.market_tape import MarketTape, NewZone

SETTINGS = Settings.model_validate({"market": {"timeframe": "1h"}, "bot": {"summary_hour": -1}})
USERS = (AccessUser(channel="telegram", user_id="1", role="trader", name="ann"),)


@dataclass
class Bot:
    ctx: BotContext
    desk: Desk
    channel: RecordingChannel
    follower: MarketFollower
    delivery: AlertDelivery
    tape: MarketTape

    async def say(self, chat: str, line: str) -> str:
        name, *args = line.split()
        reply = await self.desk.on_command("telegram", "1", chat, name, args)
        assert reply.ok, reply.text
        return reply.text

    async def step(self) -> list[tuple[str, str, Path | None]]:
        """Follow, deliver; what was sent in this step."""
        before = len(self.channel.notices)
        await self.follower.run_once()
        await self.delivery.run_once()
        return [(c, n.text, n.image) for c, n in self.channel.notices[before:]]


@pytest.fixture
async def bot(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Bot]:
    channel = RecordingChannel("telegram", chat_ids=("team",))
    router, access, key = RecordingRouter(), AccessList(USERS), b"a" * 32
    charts = BotCharts(pool, tmp_path, 60)
    clock = SystemClock()
    svc = ApprovalService(SETTINGS, pool, [channel], router, access, charts, key, clock)
    ctx = BotContext(SETTINGS, pool, access, svc, router, charts, key, clock)
    tape = MarketTape(pool)
    await tape.history(40)
    delivery = AlertDelivery(ctx, [channel], group_window_s=0.0)
    yield Bot(ctx, Desk(ctx, COMMANDS), channel, MarketFollower(ctx), delivery, tape)
    charts.close()


async def test_a_watched_break_of_structure_arrives_with_its_chart(bot: Bot) -> None:
    assert "Watching BTCUSDT 1h" in await bot.say("w1", "watch BTCUSDT 1h")
    await bot.tape.candle(40)
    assert await bot.step() == []  # nothing happened on that candle
    level = bot.tape.high(38)
    await bot.tape.candle(41, structure=[("BOS_UP", level)])
    [(chat, text, image)] = await bot.step()
    assert chat == "w1" and text.startswith("📈 BTCUSDT 1h BOS ↑ through")
    assert image is not None and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert await bot.step() == []  # exactly once
    restarted = AlertDelivery(bot.ctx, [bot.channel], group_window_s=0.0)
    assert await restarted.run_once() == 0


async def test_one_candle_one_message_one_chart(bot: Bot) -> None:
    await bot.say("w1", "watch BTCUSDT")
    lo, hi = bot.tape.low(42), bot.tape.high(42)
    zones = [
        NewZone("OB", "bullish", lo + 10, lo - 50),
        NewZone("FVG", "bearish", hi + 80, hi + 20),
    ]
    await bot.tape.candle(42, structure=[("CHOCH_DN", lo)], zones=zones, regime="RANGE")
    [(_, text, image)] = await bot.step()
    lines = text.splitlines()
    assert [line.split()[0] for line in lines] == ["•"] * 4
    assert "CHOCH ↓" in lines[0] and "new bullish OB" in text and "new bearish FVG" in text
    assert "regime n/a → RANGE" in text and image is not None
    async with bot.ctx.pool.acquire() as conn:
        events = await conn.fetch("SELECT event FROM alerts ORDER BY id")
    assert [r["event"] for r in events] == ["choch", "ob", "fvg", "regime"]


async def test_first_touch_of_a_live_zone_is_a_retest_and_only_the_first(bot: Bot) -> None:
    await bot.say("w1", "watch BTCUSDT 1h")
    t = bot.tape
    far_top, far_bottom = t.low(40) - 5000, t.low(40) - 5200  # not touched by 41
    await t.candle(40, zones=[NewZone("OB", "bullish", far_top, far_bottom)])
    await bot.step()
    # the first later candle whose low undercuts every candle since: its low is the zone
    k = next(k for k in range(42, 200) if t.low(k) < min(t.low(j) for j in range(41, k)) - 2)
    for j in range(41, k):
        await t.candle(j)
    assert await bot.step() == []
    async with bot.ctx.pool.acquire() as conn:
        await conn.execute("UPDATE zones SET top = $1, bottom = $2", t.low(k) + 1, t.low(k) - 1)
    await t.candle(k)
    [(_, text, image)] = await bot.step()
    assert text.startswith("🎯 BTCUSDT 1h retest of bullish OB") and image is not None
    async with bot.ctx.pool.acquire() as conn:
        await conn.execute("UPDATE zones SET top = $1, bottom = $2", t.high(k + 1), t.low(k + 1))
    await t.candle(k + 1)  # touched again, but zone history now has a touch before: no alert
    assert await bot.step() == []


async def test_mute_and_unmute_per_chat(bot: Bot) -> None:
    await bot.say("w1", "watch BTCUSDT 1h")
    await bot.say("w2", "watch BTCUSDT 1h")
    assert "bos (break of structure) muted until" in await bot.say("w1", "mute bos 2h")
    await bot.tape.candle(40, structure=[("BOS_UP", bot.tape.high(39))])
    sent = await bot.step()
    assert [c for c, _, _ in sent] == ["w2"]
    assert "Muted: bos" in await bot.say("w1", "watches")
    await bot.say("w1", "unmute")
    await bot.tape.candle(41, structure=[("BOS_UP", bot.tape.high(40))])
    assert sorted(c for c, _, _ in await bot.step()) == ["w1", "w2"]
    async with bot.ctx.pool.acquire() as conn:
        muted = await conn.fetchval(
            "SELECT count(*) FROM alert_chat_deliveries WHERE outcome = 'muted'"
        )
    assert muted == 1
    assert "fill (entry fills) silent" in await bot.say("team", "mute fill silent")
    async with bot.ctx.pool.acquire() as conn:
        await conn.execute("INSERT INTO alerts (kind, text) VALUES ('fill', 'filled')")
    await bot.step()
    async with bot.ctx.pool.acquire() as conn:
        await conn.execute("INSERT INTO alerts (kind, text) VALUES ('kill', 'halted')")
    await bot.step()
    assert [(n.text, n.silent) for c, n in bot.channel.notices[-2:]] == [
        ("filled", True),  # still delivered, without a sound
        ("halted", False),
    ]


async def test_trade_alerts_go_to_the_team_with_the_trade_chart_and_bursts_group(
    bot: Bot, pool: asyncpg.Pool
) -> None:
    did = await make_decision(pool, open_time=bot.tape.time(39))
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE decisions SET venue='sim', symbol='BTCUSDT', tf='1h',"
            " realized_pnl=12.5, closed_at=now() WHERE id=$1",
            did,
        )
        await walk_to(conn, did, State.CLOSED)
        for kind, text in [
            ("fill", f"✅ Filled BUY 0.01 BTCUSDT @ 60,000 · #D-{did}"),
            ("info", f"🛡️ Protected #D-{did} · stop 59,000 · TP 61,500"),
            ("fill", f"🛑 Stop SL filled SELL 0.01 BTCUSDT @ 59,000 · #D-{did}"),
            ("closed", f"🏁 Closed #D-{did} · PnL −10.00 USDT"),
        ]:
            await conn.execute(
                "INSERT INTO alerts (kind, text, decision_id) VALUES ($1, $2, $3)", kind, text, did
            )
    sent = await bot.step()
    assert [c for c, _, _ in sent] == ["team"] * 2
    burst, exit_ = sent  # the stop and the close share the trade's chart: one message
    assert burst[1].startswith("🔔 2 alerts\n• ✅ Filled") and burst[2] is None
    assert exit_[1].startswith("• 🛑 Stop SL filled") and "\n• 🏁 Closed" in exit_[1]
    assert exit_[2] is not None and exit_[2].name == f"trade-{did}.png"


async def test_channel_event_filter_and_failures(bot: Bot, pool: asyncpg.Pool) -> None:
    quiet = RecordingChannel("line", chat_ids=("U1",), events=frozenset({"kill"}))
    delivery = AlertDelivery(bot.ctx, [quiet], group_window_s=0.0)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO alerts (kind, text) VALUES ('fill', 'a fill')")
        await conn.execute("INSERT INTO alerts (kind, text) VALUES ('kill', '⛔ halted')")
    quiet.fail_sends = 1
    assert await delivery.run_once() == 0  # LINE down: retried on the next pass
    assert await delivery.run_once() == 1
    assert quiet.alerts == ["⛔ halted"]
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT outcome FROM alert_chat_deliveries ORDER BY alert_id")
    assert [r["outcome"] for r in rows] == ["filtered", "sent"]


async def test_guard_changes_are_alerted(bot: Bot, pool: asyncpg.Pool) -> None:
    guards = GuardFollower(bot.ctx)
    async with pool.acquire() as conn:  # the engine's row: one verdict per guard and stream
        await conn.execute(
            "INSERT INTO guard_state (name, venue, symbol, state, blocking, at_ms)"
            " VALUES ('news', 'sim', 'BTCUSDT', 'SAFE', FALSE, 1)"
        )
    assert await guards.run_once() == 0  # the baseline
    async with pool.acquire() as conn:
        await conn.execute("UPDATE guard_state SET state = 'BLOCK', note = 'moves every candle'")
    assert await guards.run_once() == 1
    async with pool.acquire() as conn:
        await conn.execute("UPDATE guard_state SET enabled = FALSE WHERE name = 'news'")
    assert await GuardFollower(bot.ctx).run_once() == 1  # a restarted bot remembers
    sent = await bot.step()
    assert sent == [
        (
            "team",
            "🔔 2 alerts\n• 🛡️ Guard news BTCUSDT: SAFE → BLOCK"
            "\n• 🛡️ Guard news BTCUSDT switched OFF (BLOCK)",
            None,
        )
    ]


async def test_daily_summary_once_with_the_equity_curve(bot: Bot, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO control (key, value) VALUES ('equity_quote', '\"9991.23\"')"
        )
    assert await summary.daily(bot.ctx) is not None
    assert await summary.daily(bot.ctx) is None  # once a day, even after a restart
    [(chat, text, image)] = await bot.step()
    assert chat == "team" and text.startswith("📊 Daily summary")
    assert "Equity 9,991.23 USDT spot" in text and image is not None
    await bot.say("team", "mute summary")
    async with pool.acquire() as conn:
        await store.insert_alert(conn, "summary", "another")
    assert await bot.step() == []


async def test_a_kill_switch_trip_is_never_held_for_a_burst(bot: Bot, pool: asyncpg.Pool) -> None:
    slow = AlertDelivery(bot.ctx, [bot.channel], group_window_s=10.0)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO alerts (kind, text) VALUES ('info', 'protected')")
    assert await slow.run_once() == 0 and slow.holding  # waiting for the burst to end
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO alerts (kind, text) VALUES ('kill', '⛔ halted')")
    assert await slow.run_once() == 1
    assert bot.channel.alerts == ["🔔 2 alerts\n• protected\n• ⛔ halted"]


async def test_guard_verdicts_per_stream_are_followed_too(bot: Bot, pool: asyncpg.Pool) -> None:
    """The guards stage may keep one verdict per guard and stream (state, blocking, reason):
    the follower reads whichever columns the table has."""
    async with pool.acquire() as conn:
        await conn.execute(
            "DROP TABLE guard_state; CREATE TABLE guard_state (name TEXT, venue TEXT,"
            " symbol TEXT, state TEXT, blocking BOOLEAN, reason TEXT DEFAULT '',"
            " PRIMARY KEY (name, venue, symbol));"
            " INSERT INTO guard_state VALUES ('news', 'sim', 'BTCUSDT', 'SAFE', FALSE, '')"
        )
    guards = GuardFollower(bot.ctx)
    assert await guards.run_once() == 0
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE guard_state SET state = 'BLOCK', blocking = TRUE, reason = 'CPI in 10 min'"
        )
    assert await guards.run_once() == 1
    [(_, text, _)] = await bot.step()
    assert text == "🛡️ Guard news BTCUSDT: SAFE → BLOCK (CPI in 10 min)"
