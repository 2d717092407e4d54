"""Spot brackets through the router against the simulator's faults; every test asserts the
end state: no duplicate orders, stops covering exactly the position, venue == database, no
orphans after the close, the right alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import asyncpg
import pytest
import pytest_asyncio

from tests.helpers import eventually
from tests.integration.router_fault_support import (
    FaultRig,
    alert_texts,
    assert_spot_closed_clean,
    fault_rig,
    no_duplicates,
    spot_fully_protected,
)

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture
async def fr(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[FaultRig]:
    async with fault_rig(db_url, pool) as rig:
        yield rig


async def _legs(fr: FaultRig, d: int) -> dict[str, str]:
    rows = await fr.pool.fetch("SELECT leg, status FROM orders WHERE decision_id = $1", d)
    return {r["leg"]: r["status"] for r in rows}


async def test_partial_market_entry_is_protected_as_it_fills(fr: FaultRig) -> None:
    d = await fr.spot_decision("0.05", ("0.05", "0.08"))
    await fr.fault(kind="partial_fill", slices=3, market="spot", client_id_prefix=f"gl-{d}-E")
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    first = await fr.pool.fetchval(
        "SELECT filled_quantity FROM orders WHERE client_order_id = $1", f"gl-{d}-E"
    )
    assert 0 < first < D("0.05")  # protected while the entry was still filling
    assert (
        await fr.pool.fetchval(
            "SELECT count(*) FROM orders WHERE decision_id = $1 AND leg LIKE 'SL%'", d
        )
        >= 1
    )

    async def filled_and_covered() -> bool:
        done = await fr.order_status(f"gl-{d}-E") == "FILLED"
        return done and await spot_fully_protected(fr, d)

    await eventually(filled_and_covered, 20, "entry filled and the stops cover it all")
    legs = await _legs(fr, d)
    assert any("r" in leg for leg in legs), legs  # the ladder was re-sized as fills came
    assert sum(1 for a in await alert_texts(fr) if a.startswith("🛡️ Protected")) == 1
    await assert_spot_closed_clean(fr, d)


async def test_limit_entry_is_one_otoco_and_the_ladder_completes(fr: FaultRig) -> None:
    d = await fr.spot_decision("0.05", ("0.05", "0.08"), entry_type="LIMIT", above="0.002")
    await fr.client.submit_bracket(d)
    await eventually(lambda: spot_fully_protected(fr, d), 20, "OTOCO rung 1 + router rung 2")
    rows = await fr.pool.fetch(
        "SELECT leg, list_client_id, status FROM orders WHERE decision_id = $1 ORDER BY id", d
    )
    lists = {r["leg"]: r["list_client_id"] for r in rows}
    assert lists["E"] == lists["TP1"] == lists["SL1"] == f"gl-{d}-L1"  # one OTOCO list
    assert lists["TP2"] == lists["SL2"] == f"gl-{d}-L2"
    assert {r["leg"] for r in rows} == {"E", "TP1", "SL1", "TP2", "SL2"}  # nothing re-sized
    counts = await no_duplicates(fr)
    assert counts[f"gl-{d}-E"] == 1
    await assert_spot_closed_clean(fr, d)


async def test_entry_ttl_cancels_the_remainder_and_protects_the_fill(fr: FaultRig) -> None:
    await fr.admin("pause")  # no replay steps: only the first slice fills
    d = await fr.spot_decision(
        "0.05", ("0.05", "0.08"), entry_type="LIMIT", above="0.002", ttl_s=2.5
    )
    await fr.fault(kind="partial_fill", slices=4, market="spot", client_id_prefix=f"gl-{d}-E")
    await fr.client.submit_bracket(d)

    async def expired() -> bool:
        return await fr.order_status(f"gl-{d}-E") == "CANCELED"

    await eventually(expired, 15, "unfilled remainder cancelled after the TTL")
    filled = await fr.pool.fetchval(
        "SELECT filled_quantity FROM orders WHERE client_order_id = $1", f"gl-{d}-E"
    )
    assert 0 < filled < D("0.05")
    await eventually(lambda: spot_fully_protected(fr, d), 10, "what filled is protected")

    async def pending_legs_cancelled() -> bool:  # the OTOCO's pending legs went too; the
        legs = await _legs(fr, d)  # router learns it from the stream, after the entry's news
        return legs["TP1"] == legs["SL1"] == "CANCELED"

    await eventually(pending_legs_cancelled, 10, "the OTOCO's pending legs recorded cancelled")

    async def ttl_alerted() -> bool:
        return any("time-to-live" in a for a in await alert_texts(fr, "info"))

    await eventually(ttl_alerted, 10, "the trader told the entry's time-to-live ran out")
    await fr.admin("resume")
    await assert_spot_closed_clean(fr, d)


async def test_user_stream_dropped_mid_fill_reconciles(fr: FaultRig) -> None:
    d = await fr.spot_decision("0.05", ("0.05", "0.08"))
    await fr.fault(kind="partial_fill", slices=4, market="spot", client_id_prefix=f"gl-{d}-E")
    await fr.admin("pause")
    await fr.client.submit_bracket(d)
    runs = (await fr.client.state())["venue"]["reconciliations"]
    dropped = await fr.admin("faults", {"kind": "drop_user_streams"})
    assert dropped["dropped"] >= 1
    await fr.admin("resume")  # the other slices fill while the stream reconnects

    async def back() -> bool:
        venue = (await fr.client.state())["venue"]
        return bool(venue["user_stream_connected"] and venue["reconciliations"] > runs)

    await eventually(back, 15, "user stream back and reconciled")
    await eventually(lambda: spot_fully_protected(fr, d), 20, "fills reconciled and covered")
    await assert_spot_closed_clean(fr, d)


async def test_paused_stream_losing_fills_is_caught_up(fr: FaultRig) -> None:
    d = await fr.spot_decision("0.05", ("0.05", "0.08"))
    await fr.fault(kind="partial_fill", slices=3, market="spot", client_id_prefix=f"gl-{d}-E")
    await fr.fault(kind="pause_user_stream", seconds=4, drop=True)  # events are lost
    await fr.client.submit_bracket(d)

    async def caught_up() -> bool:
        return await fr.order_status(f"gl-{d}-E") == "FILLED" and await spot_fully_protected(fr, d)

    await eventually(caught_up, 20, "missed fills read from the venue and protected")
    assert any(a.startswith(f"🔄 Reconciled #D-{d} ") for a in await alert_texts(fr))
    await fr.admin("faults/clear")
    await assert_spot_closed_clean(fr, d)


async def test_otoco_entry_filling_in_slices_ends_fully_protected(fr: FaultRig) -> None:
    d = await fr.spot_decision("0.05", ("0.05", "0.08"), entry_type="LIMIT", above="0.002")
    await fr.fault(kind="partial_fill", slices=3, market="spot", client_id_prefix=f"gl-{d}-E")
    await fr.client.submit_bracket(d)

    async def filled_and_covered() -> bool:
        done = await fr.order_status(f"gl-{d}-E") == "FILLED"
        return done and await spot_fully_protected(fr, d)

    await eventually(filled_and_covered, 20, "OTOCO entry filled in slices, stops == position")
    rows = await fr.pool.fetch("SELECT leg, status FROM orders WHERE decision_id = $1", d)
    live = [r["leg"] for r in rows if r["status"] == "NEW"]
    assert sum(1 for leg in live if leg.startswith("SL")) >= 1
    assert any("r" in r["leg"] for r in rows)  # partial slices were protected on their own
    await assert_spot_closed_clean(fr, d)
