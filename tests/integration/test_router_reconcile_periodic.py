"""The venue's truth wins, continuously: exits the user stream silently lost (no disconnect,
so no reconnect reconciliation) are read from the venue within ``reconcile_interval_s``; the
decision closes with the PnL of the venue's trades and its symbol is free again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import asyncpg
import pytest
import pytest_asyncio

from engine import store as engine_store
from tests.helpers import eventually
from tests.integration.router_fault_support import (
    FUT,
    SPOT,
    FaultRig,
    alert_texts,
    fault_rig,
    ladder_covers_position,
    no_duplicates,
)
from tests.integration.usdm_sim_rig import assert_clean_close

pytestmark = pytest.mark.timeout(120)
INTERVAL_S = 1.0


@pytest_asyncio.fixture
async def fr(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[FaultRig]:
    # Fast replay so that a tight bracket is stopped or taken out within a few seconds.
    async with fault_rig(
        db_url, pool, candles_per_second=20.0, router={"reconcile_interval_s": INTERVAL_S}
    ) as rig:
        yield rig


async def _lose_user_stream(fr: FaultRig) -> int:
    """Drop every user-data message from now on (the socket stays up); return the number of
    reconnects so far, to show later that no reconnect happened."""
    await fr.fault(kind="pause_user_stream", seconds=90, drop=True)
    state = await fr.client.state()
    return int(state["venue"]["user_stream_reconnects"])


async def _symbol_free(fr: FaultRig, symbol: str) -> bool:
    async with fr.pool.acquire() as conn:
        return await engine_store.open_decisions(conn, "sim", symbol) == 0


async def _assert_corrected_without_reconnect(fr: FaultRig, d: int, reconnects: int) -> None:
    state = await fr.client.state()
    assert state["venue"]["user_stream_reconnects"] == reconnects  # the stream never dropped
    assert state["reconcile"]["corrections"] >= 1
    texts = await alert_texts(fr)
    assert any(t.startswith(f"🔄 Reconciled #D-{d} ") for t in texts), texts
    assert any(f"Closed #D-{d}" in t for t in texts), texts
    audits = await fr.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'reconcile.difference' AND decision_id = $1",
        d,
    )
    assert audits >= 1


async def test_spot_exit_lost_from_a_live_stream_closes_the_decision(fr: FaultRig) -> None:
    await fr.admin("pause")  # hold the price while the bracket is placed
    d = await fr.spot_decision("0.0015", ("0.0015",), qty="0.02")
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    reconnects = await _lose_user_stream(fr)
    await fr.admin("resume")

    async def exited_on_venue() -> bool:
        legs = [await fr.spot.query_order(SPOT, f"gl-{d}-{leg}") for leg in ("TP1", "SL1")]
        return any(o.status == "FILLED" for o in legs)

    await eventually(exited_on_venue, 60, "the stop or the target filled on the venue")
    await fr.wait_state(d, "CLOSED", timeout=INTERVAL_S + 15)
    # Every venue trade of the decision is recorded once; the PnL comes from them.
    trades = [
        t
        for o in await fr.spot.all_orders(SPOT)
        if o.client_order_id.startswith(f"gl-{d}-")
        for t in await fr.spot.trades(SPOT, o.order_id)
    ]
    fills = await fr.pool.fetch("SELECT trade_id, quantity FROM fills WHERE decision_id = $1", d)
    assert {(f["trade_id"], f["quantity"]) for f in fills} == {(t.trade_id, t.qty) for t in trades}
    row = await fr.pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    pos = await fr.pool.fetchrow("SELECT * FROM positions WHERE decision_id = $1", d)
    assert row["realized_pnl"] == pos["realized_pnl"] != 0 and pos["state"] == "CLOSED"
    statuses = dict(await fr.pool.fetch("SELECT leg, status FROM orders WHERE decision_id = $1", d))
    assert {statuses["TP1"], statuses["SL1"]} == {"FILLED", "EXPIRED"}, statuses
    held = (await fr.spot.balances()).get("BTC", D(0))
    assert (await fr.spot.rules(SPOT)).round_qty(held) == 0
    assert await _symbol_free(fr, SPOT)
    await _assert_corrected_without_reconnect(fr, d, reconnects)
    await no_duplicates(fr)


async def test_usdm_exit_lost_from_a_live_stream_closes_the_decision(fr: FaultRig) -> None:
    await fr.admin("pause")
    d = await fr.r.bracket("BUY", "0.002", ("0.002",), qty="300")
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    await eventually(lambda: ladder_covers_position(fr, d), 15, "ladder == position")
    reconnects = await _lose_user_stream(fr)
    await fr.admin("resume")

    async def flat_on_venue() -> bool:
        return await fr.r.venue_position() == 0

    await eventually(flat_on_venue, 60, "the stop or the target closed the venue position")
    assert await fr.r.db_position() != 0  # the database did not hear about it
    await fr.wait_state(d, "CLOSED", timeout=INTERVAL_S + 15)
    await assert_clean_close(fr.r, d)  # nothing resting, flat, PnL == venue rp − fees
    assert await _symbol_free(fr, FUT)
    await _assert_corrected_without_reconnect(fr, d, reconnects)
    # A triggered algo's order carries the algo's client id: count each kind on its own.
    for ids in (
        [o.client_order_id for o in await fr.r.venue.all_orders(FUT)],
        [a.client_algo_id for a in await fr.r.venue.all_algos(FUT)],
    ):
        assert len(ids) == len(set(ids)), ids


async def _streams_up(fr: FaultRig) -> bool:
    state = await fr.client.state()
    return bool(state["venue"]["user_stream_connected"] and state["usdm"]["user_stream_connected"])


async def test_a_healthy_stream_gives_no_false_corrections(fr: FaultRig) -> None:
    # Events sent before a user stream is connected are lost for real: start once both are up.
    await eventually(lambda: _streams_up(fr), 10, "both user streams connected")
    await fr.admin("pause")
    fut = await fr.r.bracket("SELL", "0.05", ("0.05", "0.08"), qty="300")
    await fr.client.submit_bracket(fut)
    await eventually(lambda: ladder_covers_position(fr, fut), 15, "USD-M ladder == position")
    limit = await fr.spot_decision("0.05", ("0.05", "0.08"), entry_type="LIMIT", above="0.002")
    await fr.client.submit_bracket(limit)  # one OTOCO, then the router's second rung
    await fr.admin("resume")

    async def passes(n: int) -> bool:
        return int((await fr.client.state())["reconcile"]["periodic_runs"]) >= n

    await eventually(lambda: passes(4), 20, "four periodic passes")
    state = await fr.client.state()
    assert state["reconcile"]["corrections"] == 0, "\n".join(await alert_texts(fr))
    texts = await alert_texts(fr)
    assert not [t for t in texts if t.startswith(("🔄", "🚨"))], texts
    # … and the database agrees with the venue (the OTOCO's activated legs included).
    await fr.admin("pause")

    async def agree() -> bool:
        rows = await fr.pool.fetch(
            "SELECT client_order_id, status, filled_quantity FROM orders WHERE decision_id = $1",
            limit,
        )
        for row in rows:
            venue = await fr.spot.query_order(SPOT, row["client_order_id"])
            if (venue.status, venue.executed_qty) != (row["status"], row["filled_quantity"]):
                return False
        return True

    await eventually(agree, 10, "database == venue for every order")
