"""The approval service against a real database: first tap wins, expiry, access control, and
the times it shows and records read from its clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from bot import callbacks
from bot.access import AccessList
from bot.approvals import ApprovalService
from engine import store
from engine.decision.bracket import build_spot_bracket
from greenlight.core.clock import SystemClock, utc_now
from greenlight.core.contracts import SignalRaw
from greenlight.core.settings import AccessUser, Settings
from tests.fakes.chat import NoCharts, RecordingChannel, RecordingRouter, desk_for
from tests.fakes.clock import FakeClock
from tests.symbol_rules import BTCUSDT as RULES

KEY = b"k" * 32
USERS = (
    AccessUser(channel="telegram", user_id="1", role="trader", name="ann"),
    AccessUser(channel="telegram", user_id="2", role="trader", name="bob"),
    AccessUser(channel="telegram", user_id="3", role="viewer", name="vic"),
)


async def make_decision(pool: asyncpg.Pool, open_time: int = 1, ttl: int = 600) -> int:
    sig = SignalRaw(
        agent="t",
        venue="sim",
        symbol="BTCUSDT",
        tf="15m",
        open_time=open_time,
        side_hint="long",
        entry_hint=60000.0,
        sl_hint=59000.0,
        tpR=(1.5, 2.0, 3.0),
        features={},
        score=0.6,
        ttl_bars=1,
        why="test",
    )
    bracket = build_spot_bracket(sig, RULES, Decimal("10000"), Decimal("0.005"))
    async with pool.acquire() as conn:
        sid = await store.insert_signal(conn, sig)
        assert sid is not None
        did = await store.insert_decision(conn, sid, sig, bracket, ttl, 0.0)
    assert did is not None
    return did


def service(
    pool: asyncpg.Pool, channels: list[RecordingChannel], router: RecordingRouter
) -> ApprovalService:
    return ApprovalService(
        Settings(), pool, channels, router, AccessList(USERS), NoCharts(), KEY, SystemClock()
    )


async def test_first_tap_wins_across_channels(pool: asyncpg.Pool) -> None:
    a, b = RecordingChannel("telegram"), RecordingChannel("line")
    router = RecordingRouter()
    svc = service(pool, [a, b], router)
    did = await make_decision(pool)
    assert await svc.present(did)
    assert not await svc.present(did), "a decision is shown once"
    token = a.confirmations[0].buttons[0].token
    reject = a.confirmations[0].buttons[1].token
    replies = await asyncio.gather(
        svc.on_tap("telegram", "1", token),
        svc.on_tap("telegram", "2", reject),
        svc.on_tap("telegram", "2", token),
    )
    assert sum(r.ok for r in replies) == 1
    assert any("already" in r.text for r in replies if not r.ok)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT state, decided_by FROM decisions WHERE id=$1", did)
        attempts = await conn.fetch("SELECT accepted FROM approvals WHERE decision_id=$1", did)
    assert row["state"] in ("APPROVED", "REJECTED")
    assert sorted(r["accepted"] for r in attempts) == [False, False, True]
    assert router.submitted == ([did] if row["state"] == "APPROVED" else [])
    # every copy on every channel now says who decided, and a late tap changes nothing
    assert row["decided_by"] in a.finalized["1"] and row["decided_by"] in b.finalized["1"]
    late = await svc.on_tap("telegram", "1", token)
    assert not late.ok and "already" in late.text


async def test_expired_decision_cannot_be_approved(pool: asyncpg.Pool) -> None:
    ch, router = RecordingChannel("telegram"), RecordingRouter()
    svc = service(pool, [ch], router)
    did = await make_decision(pool)
    await svc.present(did)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE decisions SET expires_at = $2 WHERE id = $1",
            did,
            datetime.now(UTC) - timedelta(seconds=1),
        )
    reply = await svc.on_tap("telegram", "1", ch.confirmations[0].buttons[0].token)
    assert not reply.ok and "expired" in reply.text
    assert await svc.expire_due() == [did]
    assert "Expired" in ch.finalized["1"]
    assert router.submitted == []


async def test_unauthorised_and_forged_taps_change_nothing(pool: asyncpg.Pool) -> None:
    ch, router = RecordingChannel("telegram"), RecordingRouter()
    svc = service(pool, [ch], router)
    did = await make_decision(pool)
    await svc.present(did)
    token = ch.confirmations[0].buttons[0].token
    assert "not authorised" in (await svc.on_tap("telegram", "3", token)).text
    assert "not authorised" in (await svc.on_tap("telegram", "999", token)).text
    forged = callbacks.encode(did, "approve", b"x" * 32)
    assert not (await svc.on_tap("telegram", "1", forged)).ok
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT state FROM decisions WHERE id=$1", did) == "PENDING"
        actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log")]
    assert "approve.refused" in actions and "tap.forged" in actions
    assert router.submitted == []


async def test_roles_for_commands(pool: asyncpg.Pool) -> None:
    ch, router = RecordingChannel("telegram"), RecordingRouter()
    desk = desk_for(service(pool, [ch], router))
    status = await desk.on_command("telegram", "3", "c", "status", [])
    assert status.ok and "Trading: ON" in status.text
    refused = await desk.on_command("telegram", "3", "c", "kill", [])
    assert not refused.ok and router.kills == []
    asked = await desk.on_command("telegram", "1", "c", "kill", ["flatten"])
    assert asked.ok and router.kills == [] and len(asked.buttons) == 2  # confirm first
    killed = await desk.on_tap("telegram", "1", asked.buttons[0].token, "c")
    assert killed.ok and router.kills == [(True, "ann")]
    assert not (await desk.on_command("telegram", "1", "c", "resume", [])).ok  # admin only


async def test_auto_approve_is_recorded_as_automatic(pool: asyncpg.Pool) -> None:
    ch, router = RecordingChannel("console"), RecordingRouter()
    svc = ApprovalService(
        Settings(),
        pool,
        [ch],
        router,
        AccessList(USERS),
        NoCharts(),
        KEY,
        SystemClock(),
        auto_approve=True,
    )
    did = await make_decision(pool)
    await svc.present(did)
    assert router.submitted == [did]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT automatic, accepted FROM approvals WHERE decision_id=$1", did
        )
        detail = await conn.fetchval(
            "SELECT detail FROM audit_log WHERE action = 'approve.accepted' AND decision_id=$1", did
        )
    assert row["automatic"] and row["accepted"] and detail["automatic"] is True


async def test_entry_rejected_by_the_venue_is_reported_to_the_approver(pool: asyncpg.Pool) -> None:
    ch = RecordingChannel("telegram")
    router = RecordingRouter(entry_failure="-2010 Account has insufficient balance")
    svc = service(pool, [ch], router)
    did = await make_decision(pool)
    await svc.present(did)
    reply = await svc.on_tap("telegram", "1", ch.confirmations[0].buttons[0].token)
    assert not reply.ok and "insufficient balance" in reply.text
    assert router.submitted == [did]


async def test_expires_in_and_the_decision_time_are_read_from_the_clock(pool: asyncpg.Pool) -> None:
    did = await make_decision(pool, ttl=600)
    async with pool.acquire() as conn:
        expires = await conn.fetchval("SELECT expires_at FROM decisions WHERE id=$1", did)
    clock = FakeClock(expires - timedelta(seconds=90))
    ch, router = RecordingChannel("telegram"), RecordingRouter()
    svc = ApprovalService(Settings(), pool, [ch], router, AccessList(USERS), NoCharts(), KEY, clock)
    assert await svc.present(did)
    assert f"#D-{did}  expires in 1:30" in ch.confirmations[0].text
    clock.advance(30)
    assert (await svc.on_tap("telegram", "1", ch.confirmations[0].buttons[0].token)).ok
    async with pool.acquire() as conn:
        decided_at = await conn.fetchval("SELECT decided_at FROM decisions WHERE id=$1", did)
    assert decided_at == utc_now(clock)
