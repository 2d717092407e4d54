"""The router's bracket lifecycle against a fake venue at the SpotVenue seam and a real DB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D

import asyncpg
import pytest

from router import brackets, lifecycle
from router.brackets import RouteRefused
from router.errors import InsufficientFundsError, PriceCrossedError
from router.ledger import figures
from router.reconcile import Reconciler
from tests.fakes.router import spot_core
from tests.fakes.venues import FakeSpot
from tests.integration.router_support import (
    RULES,
    decision_state,
    deliver,
    insert_decision,
    make_bracket,
    orders,
    setup,
    std_bracket,
)


async def test_bracket_lifecycle_entry_protect_tp_stop_close(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    result = await brackets.route(core, d)
    assert result["accepted"] and result["decision"]["state"] == "OPEN"
    legs = await orders(pool, d)
    assert set(legs) == {"E", "TP1", "SL1", "TP2", "SL2", "TP3", "SL3"}
    assert legs["E"]["status"] == "FILLED" and legs["E"]["acked_at"] is not None
    net = D("0.0688") * (1 - D("0.001"))
    assert sum(legs[f"SL{i}"]["quantity"] for i in (1, 2, 3)) == RULES.round_qty(net)
    assert all(legs[f"TP{i}"]["status"] == "NEW" for i in (1, 2, 3))
    row = await pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    assert row["entry_ack_at"] is not None and row["routed_at"] <= row["entry_ack_at"]

    await deliver(core, fake)  # stream echoes of the entry and the OCO legs
    assert await pool.fetchval("SELECT count(*) FROM fills WHERE decision_id = $1", d) == 1

    fake.move(D("61400"))  # TP1 hit, SL1 expires
    await deliver(core, fake)
    legs = await orders(pool, d)
    assert legs["TP1"]["status"] == "FILLED" and legs["SL1"]["status"] == "EXPIRED"
    assert await decision_state(pool, d) == "OPEN"

    fake.move(D("59500"))  # the stop takes the rest
    await deliver(core, fake)
    row = await pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    assert row["state"] == "CLOSED" and row["closed_at"] is not None
    fills = await pool.fetch("SELECT * FROM fills WHERE decision_id = $1", d)
    expected = figures(list(fills), "BTC", "USDT")
    assert row["realized_pnl"] == expected.realized_pnl
    pos = await pool.fetchrow("SELECT * FROM positions WHERE decision_id = $1", d)
    assert pos["state"] == "CLOSED" and pos["open_quantity"] < RULES.step_size
    # Venue agrees: nothing of ours is still open.
    assert await fake.open_orders("BTCUSDT") == []
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM alerts ORDER BY id")]
    assert any(t.startswith("✅ Filled BUY 0.0688 BTCUSDT @ 60,250 · #D-") for t in texts)
    assert any("Take-profit TP1" in t for t in texts) and any("Closed #D-" in t for t in texts)
    actions = {r["action"] for r in await pool.fetch("SELECT action FROM audit_log")}
    assert {"decision.routed", "decision.open", "decision.closed", "order.update"} <= actions


async def test_concurrent_routes_place_exactly_one_entry(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    results = await asyncio.gather(brackets.route(core, d), brackets.route(core, d))
    assert sorted(r["accepted"] for r in results) == [False, True]
    assert fake.place_calls.count(f"gl-{d}-E") == 1
    again = await brackets.route(core, d)
    assert again["already"] and again["decision"]["state"] == "OPEN"


async def test_lost_response_is_adopted_not_resent(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    fake.lose_responses = 1
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    assert fake.place_calls.count(f"gl-{d}-E") == 1
    legs = await orders(pool, d)
    assert legs["E"]["status"] == "FILLED" and "SL3" in legs


async def test_request_that_never_arrived_is_sent_once_more(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    fake.drop_requests = 1
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    assert fake.place_calls.count(f"gl-{d}-E") == 2
    assert sum(1 for o in fake.orders if o.endswith("-E")) == 1
    assert await decision_state(pool, d) == "OPEN"


async def test_rejected_entry_fails_the_decision(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    fake.reject_with = InsufficientFundsError("Account has insufficient balance", -2010, 400)
    d = await insert_decision(pool, std_bracket())
    result = await brackets.route(core, d)
    assert result["decision"]["state"] == "FAILED"
    assert "insufficient" in result["decision"]["failure_reason"].lower()
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE kind = 'error'") == 1


@pytest.mark.parametrize(
    ("state", "ttl", "reason"),
    [
        ("PENDING", 600, "is PENDING, not APPROVED"),
        ("APPROVED", -1, "expired"),
        ("REJECTED", 600, "is REJECTED"),
    ],
)
async def test_unapproved_or_expired_decisions_are_refused(
    pool: asyncpg.Pool, state: str, ttl: int, reason: str
) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket(), state=state, ttl_s=ttl)
    with pytest.raises(RouteRefused, match=reason):
        await brackets.route(core, d)
    assert fake.place_calls == [] and await decision_state(pool, d) == state


async def test_replayed_events_change_nothing(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    fake.move(D("61400"))
    events = list(fake.events)
    await deliver(core, fake)
    snapshot = await pool.fetch("SELECT * FROM positions")
    fills = await pool.fetchval("SELECT count(*) FROM fills")
    for ev in events:
        await lifecycle.on_execution(core, ev)
    assert await pool.fetch("SELECT * FROM positions") == snapshot
    assert await pool.fetchval("SELECT count(*) FROM fills") == fills


async def test_reconcile_applies_missed_fills_and_alerts(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    fake.move(D("61400"))
    fake.events.clear()  # the stream was down: these events are lost
    diffs = await Reconciler(core).run()
    assert diffs >= 2  # TP1 filled, SL1 expired
    legs = await orders(pool, d)
    assert legs["TP1"]["status"] == "FILLED" and legs["SL1"]["status"] == "EXPIRED"
    tp1_fills = await pool.fetchval(
        "SELECT sum(quantity) FROM fills WHERE client_order_id = $1", f"gl-{d}-TP1"
    )
    assert tp1_fills == legs["TP1"]["quantity"]
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE text LIKE '🔄 Reconciled%'") >= 2
    assert await Reconciler(core).run() == 0  # nothing left to fix


async def test_reconcile_sends_an_entry_that_provably_never_arrived(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    fake.drop_requests = 2  # first send and the single retry both lost before the venue
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    assert (await orders(pool, d))["E"]["status"] == "NEW_PENDING"
    assert await decision_state(pool, d) == "ROUTED"
    await Reconciler(core).run()
    assert fake.place_calls.count(f"gl-{d}-E") == 3
    assert sum(1 for o in fake.orders if o.endswith("-E")) == 1
    assert await decision_state(pool, d) == "OPEN"


async def test_oco_refused_because_price_crossed_exits_that_rung_at_market(
    pool: asyncpg.Pool,
) -> None:
    core, fake = setup(pool)
    # The adapter types Binance's "would trigger immediately" refusal (binance_refusals).
    fake.reject_oco_with = PriceCrossedError("Order would trigger immediately.", -2010, 400)
    b = make_bracket("60250", "59550", ("61300",), "0.0688")
    d = await insert_decision(pool, b)
    await brackets.route(core, d)
    legs = await orders(pool, d)
    assert legs["SL1"]["status"] == "REJECTED" and legs["TP1"]["status"] == "REJECTED"
    assert legs["M1"]["status"] == "FILLED" and legs["M1"]["side"] == "SELL"
    assert await decision_state(pool, d) == "CLOSED"
    assert fake.place_calls.count(f"gl-{d}-M1") == 1
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM alerts ORDER BY id")]
    assert any("protective OCO L1 rejected" in t for t in texts)
    assert any(t.startswith("🧯 Market exit M1 filled SELL") for t in texts)


async def test_reconcile_waits_for_a_request_still_in_flight(pool: asyncpg.Pool) -> None:
    from router import store
    from router.venues.base import NewOrder

    fake = FakeSpot(RULES, D("60250"))
    core = spot_core(pool, fake, settle_s=0.5)
    d = await insert_decision(pool, std_bracket())
    order = NewOrder("BTCUSDT", "BUY", "MARKET", D("0.0688"), f"gl-{d}-E")
    # A router recorded and sent the entry, then died; the request reaches the venue late.
    async with pool.acquire() as conn, conn.transaction():
        assert await store.claim_for_routing(conn, d, datetime.now(UTC)) is not None
        row = store.OrderRow(
            d,
            order.client_order_id,
            None,
            "sim",
            "spot",
            "BTCUSDT",
            "E",
            "BUY",
            "MARKET",
            order.quantity,
        )
        await store.insert_order(conn, row)

    async def lands_late() -> None:
        await asyncio.sleep(0.1)
        await fake.place_order(order)

    landing = asyncio.create_task(lands_late())
    await Reconciler(core).run()
    await landing
    assert fake.place_calls.count(f"gl-{d}-E") == 1  # adopted, not sent a second time
    assert (await orders(pool, d))["E"]["status"] == "FILLED"
    assert await decision_state(pool, d) == "OPEN"


@pytest.mark.parametrize("price", ["59500", "61350"])  # below the stop / beyond the first target
async def test_no_entry_once_the_market_left_the_approved_band(
    pool: asyncpg.Pool, price: str
) -> None:
    core, fake = setup(pool, price)
    d = await insert_decision(pool, std_bracket())
    result = await brackets.route(core, d)
    assert not result["accepted"] and result["decision"]["state"] == "FAILED"
    assert "market moved before the entry" in result["decision"]["failure_reason"]
    assert fake.place_calls == [] and await orders(pool, d) == {}
    alert = await pool.fetchval("SELECT text FROM alerts WHERE decision_id = $1", d)
    assert "not routed" in alert
