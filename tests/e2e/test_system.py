"""The real processes, started as processes: sim, router, engine and bot, with Telegram played
by the local fake Bot API. A decision is approved by tapping the button; the bracket lands on
the sim, fills are recorded and the decision closes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from greenlight.procs import ProcessGroup, child_env, free_port, wait_port
from tests.e2e.system_support import PLUMBING
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_objects import BotMessage
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
TOKEN = "7000001:" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7"
CHAT, TRADER = 100, 42


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[FakeTelegramApi]:
    api = FakeTelegramApi(token=TOKEN, chats=[CHAT])
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def system(db_url: str, telegram: FakeTelegramApi, tmp_path: Path) -> Iterator[dict[str, Any]]:
    sim_port, router_port = free_port(), free_port()
    env = child_env(
        db_url,
        "e2e-router-token",
        {
            "GREENLIGHT_SIM_PORT": str(sim_port),
            "GREENLIGHT_SIM_CANDLES_PER_SECOND": "60",
            "GREENLIGHT_ROUTER_PORT": str(router_port),
            "GREENLIGHT_BOT_CHANNELS": '["telegram"]',
            "GREENLIGHT_BOT_CHART_DIR": str(tmp_path / "charts"),
            "GREENLIGHT_BOT_USERS": json.dumps(
                [{"channel": "telegram", "user_id": str(TRADER), "role": "trader", "name": "tess"}]
            ),
            "GREENLIGHT_TELEGRAM_BASE_URL": telegram.base_url,
            "GREENLIGHT_TELEGRAM_CHAT_IDS": f"[{CHAT}]",
            "GREENLIGHT_TELEGRAM_POLL_TIMEOUT_S": "1",
            "GREENLIGHT_TELEGRAM_TOKEN": TOKEN,
            **PLUMBING,
        },
    )
    group = ProcessGroup(env)
    logs = {n: open(tmp_path / f"{n}.log", "wb") for n in ("sim", "router", "engine", "bot")}  # noqa: SIM115
    try:
        sim = group.start("sim", "sim", stdout=logs["sim"])
        wait_port("127.0.0.1", sim_port, 60, sim)
        router = group.start("router", "router", stdout=logs["router"])
        wait_port("127.0.0.1", router_port, 60, router)
        group.start("engine", "engine", stdout=logs["engine"])
        group.start("bot", "bot", stdout=logs["bot"])
        yield {"sim": f"http://127.0.0.1:{sim_port}", "group": group, "logs": tmp_path}
    finally:
        group.stop()
        for fh in logs.values():
            fh.close()


async def sim_admin(base: str, action: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{base}/sim/admin/{action}") as r:
        assert r.status == 200


def confirmations(api: FakeTelegramApi) -> list[BotMessage]:
    return [m for m in api.sent(CHAT) if m.photo_bytes and m.callback_data()]


async def test_approved_on_telegram_fills_on_sim_and_closes(
    system: dict[str, Any], telegram: FakeTelegramApi, pool: asyncpg.Pool, db_url: str
) -> None:
    # Hold the market the moment a decision is written, as a person would want while deciding.
    # Even so the price can leave the approved band first; the router then refuses the entry
    # (FAILED, "market moved") and the next decision is tried, a bounded number of times.
    listener = await asyncpg.connect(db_url)
    pauses: list[asyncio.Task[None]] = []
    await listener.add_listener(
        "gl_decisions",
        lambda *_: pauses.append(asyncio.ensure_future(sim_admin(system["sim"], "pause"))),
    )
    tried: set[int] = set()
    try:
        for _attempt in range(5):

            async def shown() -> BotMessage | None:
                assert not system["group"].dead(), system["group"].dead()
                fresh = [m for m in confirmations(telegram) if m.message_id not in tried]
                return fresh[0] if fresh else None

            msg = await eventually(shown, timeout=180, what="a confirmation with chart+buttons")
            tried.add(msg.message_id)
            await sim_admin(system["sim"], "pause")
            assert msg.photo_bytes and msg.photo_bytes.startswith(b"\x89PNG")
            assert "LONG BTCUSDT" in (msg.caption or msg.text or "")
            did = int((msg.caption or msg.text or "").split("#D-")[1].split()[0])
            telegram.inject_callback(CHAT, TRADER, msg.message_id, msg.callback_data()[0])
            state = await eventually(
                lambda did=did: _state_in(pool, did, ("OPEN", "CLOSED", "FAILED")),
                timeout=30,
                what="entry filled or refused",
            )
            await sim_admin(system["sim"], "resume")
            if state != "FAILED":
                break
            reason = await pool.fetchval("SELECT failure_reason FROM decisions WHERE id=$1", did)
            assert "market moved" in reason
        else:
            raise AssertionError("no approved decision could be entered in 5 attempts")
    finally:
        await listener.close()
    await eventually(lambda: _state_in(pool, did, ("CLOSED",)), timeout=240, what="closed")
    async with pool.acquire() as conn:
        fills = await conn.fetchval("SELECT count(*) FROM fills WHERE decision_id=$1", did)
        dupes = await conn.fetchval(
            "SELECT count(*) FROM (SELECT client_order_id FROM orders GROUP BY 1"
            " HAVING count(*) > 1) x"
        )
        pnl = await conn.fetchval("SELECT realized_pnl FROM decisions WHERE id=$1", did)
    assert fills >= 2 and dupes == 0 and pnl is not None
    assert any("approved" in a.text.lower() for a in telegram.answered_callbacks if a.text)
    edited = next(m for m in telegram.sent(CHAT) if m.message_id == msg.message_id)
    assert "Approved by tess" in (edited.caption or edited.text or "")
    assert not edited.callback_data(), "buttons are removed after the decision"
    await eventually(
        lambda: _any_text(telegram, "Filled"), timeout=20, what="a fill alert in the chat"
    )


async def _state_in(pool: asyncpg.Pool, did: int, states: tuple[str, ...]) -> str | None:
    state = await pool.fetchval("SELECT state FROM decisions WHERE id = $1", did)
    return str(state) if state in states else None


async def _any_text(api: FakeTelegramApi, needle: str) -> bool:
    return any(needle in (m.text or "") for m in api.sent(CHAT))


def test_demo_reports_decisions_fills_and_no_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in PLUMBING.items():
        monkeypatch.setenv(k, v)
    r = run_demo(tmp_path, "r", 3000)
    assert r["agent"] == "starter" and set(r["decisions_blocked"]) >= {"news", "vol", "cost"}
    assert r["decisions"] >= 1 and r["fills"] >= 1 and r["duplicate_client_order_ids"] == 0
    assert r["candles_ingested"] >= 3000
    assert r["decisions_by_market"].get("usdm", 0) >= 1, "the XRP perpetual trades too"
    assert r["kill_switch_trips"] == [], "no automatic kill that the equity does not justify"
    assert r["log_errors"] == {"count": 0, "first": []}, "an ERROR line is a bug"
    for path in ("close_to_decision", "decision_to_confirmation", "approval_to_exchange_ack"):
        assert r[path]["p50"] is not None and r[path]["p95"] >= r[path]["p50"]


def run_demo(tmp_path: Path, name: str, candles: int) -> dict[str, Any]:
    report = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "greenlight.cli",
            "demo",
            "--candles",
            str(candles),
            "--auto-approve",
            "--report",
            str(report),
            "--timeout",
            "300",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def test_two_demo_runs_make_the_same_decisions_and_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo steps the market clock and lets everything settle between steps: the same
    arguments give the same decisions and fills, however busy the machine is."""
    for k, v in PLUMBING.items():
        monkeypatch.setenv(k, v)
    first, second = (run_demo(tmp_path, n, 300) for n in ("first", "second"))
    assert first["decisions_by_market"].get("spot", 0) >= 1
    assert first["decisions_by_market"].get("usdm", 0) >= 1
    assert first["fill_list"], "something was traded"
    assert second["decision_list"] == first["decision_list"]
    assert second["fill_list"] == first["fill_list"]
    assert second["realized_pnl_quote"] == first["realized_pnl_quote"]
    assert first["kill_switch_trips"] == second["kill_switch_trips"] == []
    assert first["log_errors"]["count"] == second["log_errors"]["count"] == 0, first["log_errors"]
    assert second["decisions_blocked"] == first["decisions_blocked"]
    # the golden acceptance run: the exact decisions, fills and PnL, reviewed and pinned
    golden = json.loads((REPO / "tests" / "golden" / "demo_starter_300.json").read_text())
    assert [_without(d, "open_time") for d in first["decision_list"]] == golden["decisions"]
    assert [_without(f, "decision_open_time") for f in first["fill_list"]] == golden["fills"]
    assert first["realized_pnl_quote"] == golden["realized_pnl_quote"]


def _without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


def test_demo_with_the_product_rule_reports_what_blocked_it(tmp_path: Path) -> None:
    """The default settings: fusion decides, the guards and costs say no as the batch run
    over the same candles does (``greenlight analyze``, golden list)."""
    r = run_demo(tmp_path, "fusion", 3000)
    assert r["agent"] == "fusion"
    # the first 3000 replayed BTCUSDT candles: four setups in CHOP/SHOCK, two too costly
    assert r["decisions_blocked"] == {"news": 0, "funding": 0, "vol": 4, "cost": 2, "exposure": 0}
    assert r["kill_switch_trips"] == []
