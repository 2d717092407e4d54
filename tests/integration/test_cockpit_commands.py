"""The read-only commands on a real database with real charts: /status (equity marked to
market, both markets), /positions, /orders, /pnl with its equity PNG, /chart, /signals with
the reason each signal did or did not become a decision, /decision N, /whoami."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from bot.access import AccessList
from bot.alerts.summary import sample_equity
from bot.approvals import ApprovalService
from bot.channel import Reply
from bot.charting import BotCharts
from bot.commands.catalog import COMMANDS
from bot.context import BotContext
from bot.desk import Desk
from engine import store
from greenlight.core import store as core_store
from greenlight.core.clock import SystemClock
from greenlight.core.contracts import SignalRaw
from greenlight.core.settings import AccessUser, Settings
from tests.fakes.chat import RecordingChannel, RecordingRouter
from tests.fakes.decisions import make_decision
from tests.fakes.market_tape import MarketTape

SETTINGS = Settings.model_validate({"market": {"timeframe": "1h"}, "bot": {"summary_hour": -1}})
USERS = (AccessUser(channel="telegram", user_id="3", role="viewer", name="vic"),)
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Cockpit:
    desk: Desk
    tape: MarketTape
    pool: asyncpg.Pool

    async def ask(self, line: str) -> Reply:
        name, *args = line.split()
        return await self.desk.on_command("telegram", "3", "chat-9", name, args)


@pytest.fixture
async def cockpit(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Cockpit]:
    router, access, key = RecordingRouter(), AccessList(USERS), b"q" * 32
    charts = BotCharts(pool, tmp_path, 60)
    clock = SystemClock()
    svc = ApprovalService(SETTINGS, pool, [RecordingChannel()], router, access, charts, key, clock)
    ctx = BotContext(SETTINGS, pool, access, svc, router, charts, key, clock)
    tape = MarketTape(pool)
    await tape.history(60)
    yield Cockpit(Desk(ctx, COMMANDS), tape, pool)
    charts.close()


async def decision_at(c: Cockpit, i: int, state: str) -> int:
    close = float(c.tape.c.close[i])
    return await make_decision(
        c.pool, c.tape.time(i), tf="1h", entry=close, stop=close - 800, state=state
    )


async def publish_equity(pool: asyncpg.Pool, spot: str, usdm: str | None = None) -> None:
    """What router.equity.store_snapshot writes."""
    rows = [("equity_quote", spot)] + ([("equity_quote_usdm", usdm)] if usdm else [])
    async with pool.acquire() as conn:
        for key, value in rows:
            await conn.execute(
                "INSERT INTO control (key, value, updated_by) VALUES ($1, $2::jsonb, 'router')"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                " updated_at = clock_timestamp()",
                key,
                value,
            )


async def test_status_shows_equity_marked_to_market_per_market(cockpit: Cockpit) -> None:
    none = await cockpit.ask("status")
    assert "Equity: not published yet" in none.text
    await publish_equity(cockpit.pool, "9991.23", "1002.5")
    text = (await cockpit.ask("status")).text
    assert "Equity 9,991.23 USDT spot · marked to market" in text
    assert "Equity 1,002.50 USDT USD-M · marked to market" in text
    assert "Trading: ON" in text and text.splitlines()[0].startswith("📄 PAPER")


async def test_positions_orders_and_pnl(cockpit: Cockpit) -> None:
    c = cockpit
    await c.tape.candle(60)
    did = await decision_at(c, 58, "OPEN")
    closed = await decision_at(c, 50, "CLOSED")
    entry = Decimal(str(c.tape.c.close[58]))
    async with c.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO positions (decision_id, venue, market, symbol, side, quantity,"
            " open_quantity, entry_price) VALUES ($1,'sim','spot','BTCUSDT','BUY',0.01,0.01,$2)",
            did,
            entry,
        )
        await conn.execute(
            "INSERT INTO orders (decision_id, client_order_id, venue, market, symbol, leg, side,"
            " order_type, quantity, price, stop_price, status) VALUES ($1, $2, 'sim', 'spot',"
            " 'BTCUSDT', 'SL', 'SELL', 'STOP_LOSS_LIMIT', 0.01, 94000, 94100, 'NEW')",
            did,
            f"gl-{did}-SL",
        )
        risk = await conn.fetchval(
            "SELECT (bracket->>'risk_quote')::numeric FROM decisions WHERE id=$1", closed
        )
        await conn.execute(
            "UPDATE decisions SET realized_pnl = $2, closed_at = now() WHERE id = $1",
            closed,
            risk * Decimal("1.5"),
        )
    await publish_equity(c.pool, "10050")
    assert await sample_equity(c.pool) == 1
    positions = (await c.ask("positions")).text
    last = Decimal(str(c.tape.c.close[60]))
    upnl = (last - entry) * Decimal("0.01")
    assert f"#D-{did} LONG 0.01 BTCUSDT @ {entry}" in positions
    assert f"{'+' if upnl >= 0 else '−'}{abs(upnl):,.2f} USDT" in positions
    orders = (await c.ask("orders")).text
    assert f"gl-{did}-SL SELL STOP_LOSS_LIMIT 0.01 @ 94000 (NEW)" in orders
    pnl = await c.ask("pnl week")
    assert "Realized +" in pnl.text and "+1.50R over 1 trade(s), 1 won, 0 lost" in pnl.text
    assert f"#D-{closed} BTCUSDT" in pnl.text
    [png] = pnl.attachments
    assert png.read_bytes()[:8] == PNG
    assert not (await c.ask("pnl year")).ok


async def test_chart_signals_and_decision(cockpit: Cockpit) -> None:
    c = cockpit
    await c.tape.candle(60, regime="TREND")
    chart = await c.ask("chart btcusdt")
    assert chart.text.startswith("BTCUSDT 1h · last close") and "regime TREND" in chart.text
    assert chart.attachments[0].read_bytes()[:8] == PNG
    assert not (await c.ask("chart BTCUSDT 4h")).ok
    taken = await decision_at(c, 55, "PENDING")
    skipped = SignalRaw(
        agent="starter.v1",
        venue="sim",
        symbol="BTCUSDT",
        tf="1h",
        open_time=c.tape.time(57),
        side_hint="long",
        entry_hint=1.0,
        sl_hint=0.5,
        tpR=(1.5,),
        features={},
        score=0.4,
        ttl_bars=1,
        why="x",
    )
    async with c.pool.acquire() as conn:
        sid = await store.insert_signal(conn, skipped)
        detail = {"signal_id": sid, "reason": "regime SHOCK: no new entries"}
        await core_store.audit(conn, "engine", "signal.skipped", None, detail)
    signals = (await c.ask("signals")).text
    assert f"→ #D-{taken} (PENDING)" in signals
    assert "→ not taken: regime SHOCK: no new entries" in signals
    detail = await c.ask(f"decision {taken}")
    assert detail.text.startswith("🟢 LONG BTCUSDT · 1h · spot")
    assert "State: PENDING" in detail.text and detail.attachments
    picker = await c.ask("decision")
    assert [b.typed for b in picker.buttons] == [f"decision {taken}"]
    assert not (await c.ask("decision 999")).ok


async def test_whoami(cockpit: Cockpit) -> None:
    me = await cockpit.ask("whoami")
    assert me.text == "You are vic · telegram user id 3 · role viewer\nThis chat: chat-9"
