"""The periodic reconciliation pass against a fake spot venue and a real DB: lost exits are
corrected, counted and alerted; an event that was merely in flight is not a correction; a
quiet account changes nothing; a standing holding difference is alerted once."""

from __future__ import annotations

from decimal import Decimal as D

import asyncpg

from router import brackets
from router.ledger import figures
from router.reconcile import Reconciler
from router.venues.base import NewOrder
from tests.integration.router_support import (
    decision_state,
    deliver,
    insert_decision,
    orders,
    setup,
    std_bracket,
)


async def _texts(pool: asyncpg.Pool, like: str) -> list[str]:
    rows = await pool.fetch("SELECT text FROM alerts WHERE text LIKE $1 ORDER BY id", like)
    return [r["text"] for r in rows]


async def test_lost_exits_are_corrected_counted_and_close_with_the_venue_pnl(
    pool: asyncpg.Pool,
) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    await deliver(core, fake)
    rec = Reconciler(core, grace_s=0)
    fake.move(D("61400"))  # TP1 fills, SL1 expires: the stream loses both
    fake.events.clear()
    assert await rec.periodic() >= 2
    legs = await orders(pool, d)
    assert legs["TP1"]["status"] == "FILLED" and legs["SL1"]["status"] == "EXPIRED"
    assert rec.corrections >= 2 and rec.periodic_runs == 1 and rec.runs == 0
    fake.move(D("59500"))  # the stop takes the rest: lost too
    fake.events.clear()
    await rec.periodic()
    assert await decision_state(pool, d) == "CLOSED"
    venue_fills = [
        {
            "side": o.side,
            "price": f.price,
            "quantity": f.qty,
            "commission": f.commission,
            "commission_asset": f.commission_asset,
        }
        for o in fake.orders.values()
        for f in o.fills
    ]
    expected = figures(venue_fills, "BTC", "USDT")  # type: ignore[arg-type]
    pnl = await pool.fetchval("SELECT realized_pnl FROM decisions WHERE id = $1", d)
    assert pnl == expected.realized_pnl
    reconciled = await _texts(pool, f"🔄 Reconciled #D-{d} %")
    assert len(reconciled) == rec.corrections
    assert await _texts(pool, f"🏁 Closed #D-{d} %")


async def test_an_event_in_flight_is_not_a_correction(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    await deliver(core, fake)
    rec = Reconciler(core)
    fake.move(D("61400"))
    assert await rec.suspects() == {d}  # the venue is ahead of the database …
    await deliver(core, fake)  # … until the stream's events land during the grace
    await rec.correct({d})
    assert rec.corrections == 0
    assert await _texts(pool, "🔄 Reconciled%") == []
    assert (await orders(pool, d))["TP1"]["status"] == "FILLED"


async def test_a_quiet_account_changes_nothing(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    await deliver(core, fake)
    rec = Reconciler(core, grace_s=0)
    for _ in range(3):
        assert await rec.suspects() == set()
        assert await rec.periodic() == 0
    assert rec.corrections == 0 and rec.periodic_runs == 3
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE text LIKE '🔄%'") == 0


async def test_a_holding_sold_by_hand_is_alerted_once_confirmed(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    d = await insert_decision(pool, std_bracket())
    await brackets.route(core, d)
    await deliver(core, fake)
    rec = Reconciler(core, grace_s=0)
    await fake.place_order(NewOrder("BTCUSDT", "SELL", "MARKET", D("0.01"), "by-hand-1"))
    fake.events.clear()
    assert await rec.periodic() == 1  # seen once: could be a fill in flight, not alerted
    assert await _texts(pool, "🚨 Spot BTC%") == []
    assert await rec.periodic() == 1  # still there on the next pass: alerted
    assert await rec.periodic() == 1  # and not again while it stands
    texts = await _texts(pool, "🚨 Spot BTC%")
    assert len(texts) == 1 and "check manually" in texts[0]
    assert await decision_state(pool, d) == "OPEN"  # nothing overwritten
