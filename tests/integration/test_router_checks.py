"""The router's own checks through its HTTP API against the simulator: unsafe brackets are
refused (FAILED with the reason, alerted, nothing sent), spot protection is planned against
the symbol's order-count filters (rungs merged, or the bracket refused), one bad row never
stops a sweep, and the venue's business refusals never trip the error-burst kill."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import asyncpg
import pytest
import pytest_asyncio

from greenlight.core.contracts import Bracket
from greenlight.core.settings import GuardSettings
from router import store
from router.venues.base import NewOco, NewOrder
from tests.integration.router_fault_support import (
    SPOT,
    FaultRig,
    alert_texts,
    fault_rig,
    spot_stops,
)
from tests.integration.router_support import decision_state, insert_decision, make_bracket
from tests.integration.router_usdm_support import insert_usdm_decision

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def fr(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[FaultRig]:
    async with fault_rig(db_url, pool, candles_per_second=1.0) as rig:
        await rig.admin("pause")  # prices hold still: nothing triggers while we look
        yield rig


async def around(fr: FaultRig, qty: str, down: str, up: tuple[str, ...] = ("0.05",)) -> Bracket:
    """A long spot bracket at the last price; ``down``/``up`` are fractions of it."""
    p = await fr.spot.last_price(SPOT)
    q = D("0.01")
    tps = tuple(str((p * (1 + D(u))).quantize(q)) for u in up)
    return make_bracket(str(p), str((p * (1 - D(down))).quantize(q)), tps, qty)


async def worth(fr: FaultRig, usdt: int) -> str:
    """The BTC quantity that costs ``usdt`` at the last price."""
    return str((D(usdt) / await fr.spot.last_price(SPOT)).quantize(D("0.00001")))


async def refused(fr: FaultRig, d: int, reason: str) -> None:
    """The API answered with the refusal, the decision FAILED with ``reason``, an alert
    says so, and nothing of it reached the venue."""
    result = await fr.client.submit_bracket(d)
    assert result["accepted"] is False and result["decision"]["state"] == "FAILED", result
    failure = result["decision"]["failure_reason"]
    assert reason in failure, failure
    assert any(f"#D-{d} not routed" in t and reason in t for t in await alert_texts(fr, "error"))
    sent = [o.client_order_id for o in await fr.spot.all_orders(SPOT)]
    sent += [o.client_order_id for o in await fr.r.venue.all_orders("XRPUSDT")]
    assert not [c for c in sent if c.startswith(f"gl-{d}-")], sent


async def test_unsafe_brackets_are_refused_through_the_api(fr: FaultRig) -> None:
    # The reported case: a stop 50 % below the entry, risking 40 % of the 10,000 USDT.
    wide = await insert_decision(fr.pool, await around(fr, await worth(fr, 8000), "0.5"))
    await refused(fr, wide, "router check: loss at the stop")
    no_tp = (await around(fr, "0.01", "0.01")).model_copy(update={"take_profits": ()})
    await refused(fr, await insert_decision(fr.pool, no_tp), "has no take-profit")
    wrong = await around(fr, "0.01", "-0.01")  # the "stop" above the entry of a long
    await refused(fr, await insert_decision(fr.pool, wrong), "is on the wrong side")
    big = await around(fr, await worth(fr, 12000), "0.0001")  # tiny risk, but too costly
    await refused(fr, await insert_decision(fr.pool, big), "more than the account carries")
    p = await fr.r.price()
    levered = Bracket.model_validate(
        {
            "market": "usdm",
            "symbol": "XRPUSDT",
            "side": "BUY",
            "entry_type": "MARKET",
            "entry_price": str(p),
            "quantity": "10",
            "stop_price": str(p * D("0.99")),
            "take_profits": [{"price": str(p * D("1.02")), "quantity": "10", "r_multiple": "2"}],
            "risk_quote": "1",
            "risk_fraction": "0.005",
            "equity_quote": "10000",
            "leverage": 5,
        }
    )
    await refused(fr, await insert_usdm_decision(fr.pool, levered), "leverage 5 is above the cap")
    assert (await fr.r.venue.positions()) == []
    async with fr.pool.acquire() as conn:
        assert await store.trading_enabled(conn)  # refusals are not venue errors


async def test_a_bad_row_is_quarantined_and_the_sweep_goes_on(fr: FaultRig) -> None:
    await fr.r.stop_router()
    no_tp = (await around(fr, "0.01", "0.01")).model_copy(update={"take_profits": ()})
    bad = await insert_decision(fr.pool, no_tp)
    good = await insert_decision(fr.pool, await around(fr, "0.01", "0.05"))
    await fr.r.start_router()  # its first sweep finds both
    assert await decision_state(fr.pool, bad) == "FAILED"
    assert await decision_state(fr.pool, good) == "OPEN"
    reason = await fr.pool.fetchval("SELECT failure_reason FROM decisions WHERE id = $1", bad)
    assert "has no take-profit" in reason


async def test_protection_is_planned_around_orders_already_resting(fr: FaultRig) -> None:
    rules = await fr.spot.rules(SPOT)  # MAX_NUM_ALGO_ORDERS 5, as on Binance
    p = await fr.spot.last_price(SPOT)
    # The trader's own OCO on the symbol: one LIMIT_MAKER and one STOP_LOSS.
    await fr.spot.place_order(NewOrder(SPOT, "BUY", "MARKET", D("0.01"), "manual-buy"))
    await fr.spot.place_oco(
        NewOco(
            SPOT,
            "SELL",
            D("0.009"),
            (p * D("1.2")).quantize(D("0.01")),
            (p * D("0.8")).quantize(D("0.01")),
            "manual-oco",
            "manual-tp",
            "manual-sl",
        )
    )
    ladder = ("0.05", "0.06", "0.07")
    first = await insert_decision(fr.pool, await around(fr, "0.05", "0.03", ladder))
    assert (await fr.client.submit_bracket(first))["decision"]["state"] == "OPEN"
    assert await _stops(fr, first) == 3  # 1 + 3 of 5 stop orders
    approved = await around(fr, "0.05", "0.03", ladder)
    second = await insert_decision(fr.pool, approved)
    result = await fr.client.submit_bracket(second)
    assert result["decision"]["state"] == "OPEN"
    assert await _stops(fr, second) == 1  # three rungs merged into the one that fits
    for d in (first, second):  # every bought unit is under a stop, nothing was rejected
        held = await fr.pool.fetchval(
            "SELECT open_quantity FROM positions WHERE decision_id = $1", d
        )
        assert await spot_stops(fr, d) == rules.round_qty(held) > 0
    assert not [t for t in await alert_texts(fr, "error") if "rejected" in t]
    merged = await fr.pool.fetchval("SELECT bracket FROM decisions WHERE id = $1", second)
    assert len(merged["take_profits"]) == 1
    carried = sum((t.quantity for t in approved.take_profits), D(0))
    assert D(merged["take_profits"][0]["quantity"]) == carried
    assert any(
        f"#D-{second} BTCUSDT: take-profits merged 3 → 1" in t
        for t in await alert_texts(fr, "info")
    )
    third = await insert_decision(fr.pool, await around(fr, "0.05", "0.03", ladder))
    await refused(fr, third, "MAX_NUM_ALGO_ORDERS 5")


async def _stops(fr: FaultRig, d: int) -> int:
    resting = await fr.spot.open_orders(SPOT)
    return sum(1 for o in resting if o.client_order_id.startswith(f"gl-{d}-SL"))


async def test_insufficient_balance_refusals_do_not_trip_the_kill_switch(
    db_url: str, pool: asyncpg.Pool
) -> None:
    guards = GuardSettings(error_burst=3, error_window_s=600)
    async with fault_rig(db_url, pool, guards=guards, candles_per_second=1.0) as fr:
        await fr.admin("pause")
        p = await fr.spot.last_price(SPOT)
        # The trader locks almost all USDT in a resting bid: equity (free + locked) is still
        # 10,000, so the router's checks pass, but the venue has no free balance to buy with.
        bid = (p / 2).quantize(D("0.01"))
        locked = (D(9900) / bid).quantize(D("0.00001"))
        await fr.spot.place_order(NewOrder(SPOT, "BUY", "LIMIT", locked, "manual-bid", bid))
        qty = await worth(fr, 500)  # more than the 100 USDT left free
        ids = [await insert_decision(pool, await around(fr, qty, "0.05")) for _ in range(5)]
        for d in ids:
            result = await fr.client.submit_bracket(d)
            assert result["decision"]["state"] == "FAILED", result
            assert "insufficient balance" in result["decision"]["failure_reason"]
        errors = (await fr.client.state())["last_errors"]
        assert sum("insufficient balance" in e["error"] for e in errors) >= 5
        async with pool.acquire() as conn:
            assert await store.trading_enabled(conn)
        assert await alert_texts(fr, "kill") == []
