"""Nothing is stuck: every waiting state has a bounded way out, against the simulator and a
real database (router process, and the bot's approval service on the router's HTTP API).

PENDING past its TTL → EXPIRED by the router even with no bot; APPROVED past its TTL →
EXPIRED with a message naming the approver (router down, or trading halted); APPROVED and
not handed over → routed by the bot's start; shown but not auto-approved (bot killed in
between) → approved by the next bot's start; ROUTED with nothing on the venue → FAILED with
the reason after ``router.routed_timeout_s``. (OPEN: test_router_reconcile_periodic.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg
import pytest
import pytest_asyncio

from bot.access import AccessList
from bot.approvals import ApprovalService
from engine import store as engine_store
from greenlight.core.clock import SystemClock
from greenlight.core.settings import GuardSettings, Settings
from router import liveness, reports, store
from router.client import RouterError
from router.venues.base import NewOrder
from tests.fakes.chat import NoCharts, RecordingChannel
from tests.helpers import eventually
from tests.integration.router_fault_support import (
    SPOT,
    FaultRig,
    alert_texts,
    fault_rig,
)
from tests.integration.router_support import (
    decision_state,
    insert_decision,
    make_bracket,
    orders,
    setup,
    std_bracket,
)

pytestmark = pytest.mark.timeout(120)
KEY = b"k" * 32


@pytest_asyncio.fixture
async def fr(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[FaultRig]:
    router = {"reconcile_interval_s": 0.5, "routed_timeout_s": 4.0}
    async with fault_rig(db_url, pool, GuardSettings(error_burst=1000), router=router) as rig:
        yield rig


async def _past_ttl(pool: asyncpg.Pool, d: int) -> bool:
    return bool(await pool.fetchval("SELECT expires_at <= now() FROM decisions WHERE id = $1", d))


async def _symbol_free(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        return await engine_store.open_decisions(conn, "sim", SPOT) == 0


async def _venue_orders(fr: FaultRig, d: int) -> list[str]:
    ids = [o.client_order_id for o in await fr.spot.all_orders(SPOT)]
    return [i for i in ids if i.startswith(f"gl-{d}-")]


async def _bracket(fr: FaultRig, state: str, ttl_s: float = 600) -> int:
    p = D(str(await fr.spot.last_price(SPOT)))
    q = D("0.01")
    b = make_bracket(
        str(p), str((p * D("0.95")).quantize(q)), (str((p * D("1.05")).quantize(q)),), "0.01"
    )
    return await insert_decision(fr.pool, b, state=state, ttl_s=ttl_s)


def _bot(fr: FaultRig, auto_approve: bool) -> tuple[ApprovalService, RecordingChannel]:
    ch = RecordingChannel("console")
    svc = ApprovalService(
        Settings(),
        fr.pool,
        [ch],
        fr.client,
        AccessList(()),
        NoCharts(),
        KEY,
        SystemClock(),
        auto_approve=auto_approve,
    )
    return svc, ch


async def test_pending_past_ttl_expires_without_a_bot(fr: FaultRig) -> None:
    d = await _bracket(fr, "PENDING", ttl_s=1)
    await fr.wait_state(d, "EXPIRED", timeout=15)
    assert (
        await fr.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'decision.expired' AND decision_id = $1",
            d,
        )
        == 1
    )
    assert await _symbol_free(fr.pool)


async def test_approval_outliving_a_router_outage_expires_and_tells_the_approver(
    fr: FaultRig,
) -> None:
    await fr.r.stop_router()
    d = await _bracket(fr, "APPROVED", ttl_s=1)  # approved by "tester" while the router is down
    await eventually(lambda: _past_ttl(fr.pool, d), 10, "the decision's TTL passed")
    await fr.r.start_router()
    assert await decision_state(fr.pool, d) == "EXPIRED"  # at start, not some time later
    row = await fr.pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    assert "time-to-live ran out" in row["failure_reason"]
    texts = await alert_texts(fr, "expired")
    assert len(texts) == 1 and f"#D-{d}" in texts[0] and "approved by tester" in texts[0]
    with pytest.raises(RouterError) as refused:
        await fr.client.submit_bracket(d)
    assert refused.value.status == 409 and "EXPIRED" in refused.value.reason
    assert await _venue_orders(fr, d) == []
    assert await _symbol_free(fr.pool)


async def test_approval_during_a_halt_expires_at_its_ttl(fr: FaultRig) -> None:
    await fr.client.kill(False, "tester")
    d = await _bracket(fr, "APPROVED", ttl_s=2)
    await fr.pool.execute("SELECT pg_notify('gl_approved', $1)", str(d))  # refused: halted
    await fr.wait_state(d, "EXPIRED", timeout=15)
    assert any(f"#D-{d}" in t for t in await alert_texts(fr, "expired"))
    assert await _venue_orders(fr, d) == []


async def test_bot_start_hands_committed_approvals_over(fr: FaultRig) -> None:
    # The bot committed an approval and died before calling the router (no NOTIFY either).
    d = await _bracket(fr, "APPROVED")
    svc, _ = _bot(fr, auto_approve=False)
    await svc.sweep()  # what a starting bot does
    assert await decision_state(fr.pool, d) in ("ROUTED", "OPEN")  # handed over at once
    await fr.wait_state(d, "OPEN")
    assert await _venue_orders(fr, d)


async def test_bot_killed_between_showing_and_auto_approving_loses_nothing(
    fr: FaultRig,
) -> None:
    d = await _bracket(fr, "PENDING")
    signal = {"agent": "test", "score": 0.6, "why": "test"}  # what the confirmation shows
    await fr.pool.execute("UPDATE decisions SET signal = $2 WHERE id = $1", d, signal)
    shown, ch = _bot(fr, auto_approve=False)
    assert await shown.present(d)  # shown … and the bot died before approving
    assert len(ch.confirmations) == 1 and await decision_state(fr.pool, d) == "PENDING"
    restarted, ch2 = _bot(fr, auto_approve=True)
    await restarted.sweep()
    assert ch2.confirmations == []  # not shown twice
    row = await fr.pool.fetchrow("SELECT state, decided_by FROM decisions WHERE id = $1", d)
    assert row["state"] in ("ROUTED", "OPEN") and row["decided_by"] == "auto-approve"
    await fr.wait_state(d, "OPEN")  # the bot's call and the router's NOTIFY race: one routes
    automatic = await fr.pool.fetchval(
        "SELECT automatic FROM approvals WHERE decision_id = $1 AND accepted", d
    )
    assert automatic is True
    assert "auto-approve" in ch2.finalized["1"]  # the message shown before now says so


async def test_routed_with_nothing_on_the_venue_fails_after_the_bound(fr: FaultRig) -> None:
    # Every order placement fails before reaching the matching engine: the entry's outcome
    # stays unknown, re-sends are lost too.
    await fr.fault(kind="http_5xx", path="/api/v3/order", method="POST", count=1000)
    d = await _bracket(fr, "APPROVED")
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "ROUTED"
    await fr.wait_state(d, "FAILED", timeout=30)
    row = await fr.pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    assert liveness.NEVER_REACHED in row["failure_reason"]
    assert (await orders(fr.pool, d))["E"]["status"] == "REJECTED"
    assert any(
        f"#D-{d}" in t and liveness.NEVER_REACHED in t for t in await alert_texts(fr, "error")
    )
    await fr.admin("faults/clear")
    assert await _venue_orders(fr, d) == []
    assert await _symbol_free(fr.pool)


async def _routed_long_ago(pool: asyncpg.Pool, entry: bool) -> tuple[int, NewOrder]:
    """A decision a router claimed two minutes ago (and recorded its entry, if ``entry``)."""
    d = await insert_decision(pool, std_bracket())
    order = NewOrder(SPOT, "BUY", "MARKET", D("0.0688"), f"gl-{d}-E")
    async with pool.acquire() as conn, conn.transaction():
        assert await store.claim_for_routing(conn, d, datetime.now(UTC)) is not None
        if entry:
            await store.insert_order(
                conn,
                store.OrderRow(
                    d,
                    order.client_order_id,
                    None,
                    "sim",
                    "spot",
                    SPOT,
                    "E",
                    "BUY",
                    "MARKET",
                    order.quantity,
                ),
            )
        ago = datetime.now(UTC) - timedelta(minutes=2)
        await conn.execute("UPDATE decisions SET routed_at = $2 WHERE id = $1", d, ago)
    return d, order


async def test_routed_decisions_fail_only_when_nothing_is_on_the_venue(
    pool: asyncpg.Pool,
) -> None:
    core, fake = setup(pool)
    no_row, _ = await _routed_long_ago(pool, entry=False)  # died between claim and record
    never_sent, _ = await _routed_long_ago(pool, entry=True)  # died before sending
    arrived, order = await _routed_long_ago(pool, entry=True)  # died before the answer
    await fake.place_order(order)
    refused, _ = await _routed_long_ago(pool, entry=True)  # refused, never moved on
    refused_now = await core.snapshot(refused)
    await reports.mark_order(core, refused_now, f"gl-{refused}-E", "REJECTED", "Filter failure")
    assert await liveness.fail_unrouted(core) == [no_row, never_sent, refused]
    reason = await pool.fetchval("SELECT failure_reason FROM decisions WHERE id = $1", refused)
    assert reason == "Filter failure"
    for d in (no_row, never_sent):
        row = await pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
        assert row["state"] == "FAILED" and liveness.NEVER_REACHED in row["failure_reason"]
    assert (await orders(pool, never_sent))["E"]["status"] == "REJECTED"
    assert await decision_state(pool, arrived) == "OPEN"  # its entry was there: adopted
    assert [c for c in fake.place_calls if c.endswith("-E")] == [order.client_order_id]
    assert await liveness.fail_unrouted(core) == []
