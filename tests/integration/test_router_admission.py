"""Admission before the entry, at the venue seam with a real database: a working LIMIT
entry's future protection is reserved for it, and an unexpected failure on one decision
quarantines it without touching the next."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import asyncpg

from router import brackets
from router.core import Core
from router.errors import OrderCountError
from router.venues.base import OrderReport
from tests.fakes.router import spot_core
from tests.fakes.venues import FakeSpot, btcusdt_rules
from tests.integration.router_support import decision_state, insert_decision, make_bracket

RULES = replace(btcusdt_rules(), max_num_algo_orders=5)
LADDER = ("61300", "61650", "62350")


class BuggySpot(FakeSpot):
    """Fails once, the way a bug would (not a venue error), when listing open orders."""

    def __init__(self) -> None:
        super().__init__(RULES, D("60250"))
        self.bugs = 0

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        if self.bugs:
            self.bugs -= 1
            raise KeyError("symbol")
        return await super().open_orders(symbol)


def setup(pool: asyncpg.Pool) -> tuple[Core, BuggySpot]:
    fake = BuggySpot()
    return spot_core(pool, fake), fake


async def test_a_working_limit_entry_keeps_room_for_its_whole_ladder(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    limit = make_bracket("60000", "59300", LADDER, "0.03", entry_type="LIMIT")
    working = await insert_decision(pool, limit)
    assert (await brackets.route(core, working))["decision"]["state"] == "ROUTED"
    # Resting now: the entry and rung 1's pending OCO; its other rungs come with the fill.
    assert sum(o.status != "FILLED" for o in fake.orders.values()) == 3
    market = await insert_decision(pool, make_bracket("60250", "59550", LADDER, "0.03"))
    assert (await brackets.route(core, market))["decision"]["state"] == "OPEN"
    planned = await pool.fetchval("SELECT bracket FROM decisions WHERE id = $1", market)
    assert [t["price"] for t in planned["take_profits"]] == ["61300"]  # 4 of 5 stops reserved
    assert sorted(c for c in fake.orders if c.startswith(f"gl-{market}-SL")) == [f"gl-{market}-SL1"]
    third = await insert_decision(pool, make_bracket("60250", "59550", LADDER, "0.03"))
    result = await brackets.route(core, third)
    assert result["decision"]["state"] == "FAILED"
    assert "MAX_NUM_ALGO_ORDERS 5" in result["decision"]["failure_reason"]
    assert f"gl-{third}-E" not in fake.orders  # refused before the entry


async def test_an_unexpected_error_quarantines_one_decision_only(pool: asyncpg.Pool) -> None:
    core, fake = setup(pool)
    fake.bugs = 1
    bad = await insert_decision(pool, make_bracket("60250", "59550", LADDER, "0.03"))
    good = await insert_decision(pool, make_bracket("60250", "59550", LADDER, "0.03"))
    result = await brackets.route(core, bad)
    assert result["accepted"] is False and result["decision"]["state"] == "FAILED"
    assert "router error while routing: KeyError('symbol')" in result["decision"]["failure_reason"]
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM alerts WHERE kind = 'error'")]
    assert any(t.startswith(f"⚠️ #D-{bad} quarantined") for t in texts), texts
    assert (await brackets.route(core, good))["decision"]["state"] == "OPEN"
    assert await decision_state(pool, bad) == "FAILED"


async def test_a_rung_refused_for_order_count_after_the_entry_exits_at_market(
    pool: asyncpg.Pool,
) -> None:
    # Someone filled the symbol's stop slots between the plan and the protection.
    core, fake = setup(pool)
    fake.reject_oco_with = OrderCountError("Filter failure: MAX_NUM_ALGO_ORDERS", -1013, 400)
    d = await insert_decision(pool, make_bracket("60250", "59550", ("61300",), "0.03"))
    await brackets.route(core, d)
    exit_order = fake.orders[f"gl-{d}-M1"]  # sold rather than left without a stop
    assert exit_order.side == "SELL" and exit_order.status == "FILLED"
    bought = fake.orders[f"gl-{d}-E"].executed * (1 - fake.commission)
    assert exit_order.executed == RULES.round_qty(bought)
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM alerts WHERE kind = 'error'")]
    assert any("protective OCO L1 rejected" in t and "MAX_NUM_ALGO_ORDERS" in t for t in texts)
