"""``/status`` leads with the mode in words a trader cannot misread (real database)."""

from __future__ import annotations

import asyncpg
import pytest

from bot.access import AccessList
from bot.approvals import ApprovalService
from greenlight.core.clock import SystemClock
from greenlight.core.settings import AccessUser, Settings
from tests.fakes.chat import NoCharts, RecordingChannel, RecordingRouter, desk_for

VIEWER = AccessUser(channel="telegram", user_id="3", role="viewer", name="vic")


@pytest.mark.parametrize(
    ("mode", "venue", "first_line"),
    [
        ("paper", "sim", "📄 PAPER — simulated venue, no real money"),
        (
            "testnet",
            "binance_testnet",
            "🧪 TESTNET — Binance testnet, test funds only, no real money",
        ),
        ("live", "binance", "🔴 LIVE — REAL MONEY on Binance"),
    ],
)
async def test_status_names_the_mode_first(
    pool: asyncpg.Pool, mode: str, venue: str, first_line: str
) -> None:
    settings = Settings.model_validate({"general": {"mode": mode}, "venue": {"name": venue}})
    svc = ApprovalService(
        settings,
        pool,
        [RecordingChannel("telegram")],
        RecordingRouter(),
        AccessList((VIEWER,)),
        NoCharts(),
        b"k" * 32,
        SystemClock(),
    )
    reply = await desk_for(svc).on_command("telegram", "3", "c", "status", [])
    lines = reply.text.splitlines()
    assert reply.ok and lines[0] == first_line
    assert lines[1].startswith(f"Greenlight · venue {venue} · BTCUSDT 15m")
    assert ("REAL MONEY" in reply.text) == (mode == "live")
