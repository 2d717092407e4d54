"""USD-M brackets through the router under simulator faults: partial fills, a timed-out algo
order, a paused user stream; end state checked on the venue and in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from router.venues.base import TERMINAL_STATUSES
from tests.helpers import eventually
from tests.integration.router_fault_support import (
    FUT,
    FaultRig,
    alert_texts,
    fault_rig,
    ladder_covers_position,
    no_duplicates,
)

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture
async def fr(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[FaultRig]:
    async with fault_rig(db_url, pool) as rig:
        yield rig


async def flatten_and_check(fr: FaultRig, d: int) -> None:
    """Kill with flatten; then CLOSED, flat on both sides, nothing resting, no duplicates."""
    await fr.client.kill(True, "tester")
    await fr.wait_state(d, "CLOSED")
    assert [a for a in await fr.r.venue.open_algos(FUT) if a.client_algo_id.startswith("gl-")] == []
    assert await fr.r.venue_position() == 0 == await fr.r.db_position()
    rows = await fr.pool.fetch("SELECT status FROM orders WHERE decision_id = $1", d)
    assert all(r["status"] in TERMINAL_STATUSES for r in rows)
    await no_duplicates(fr)


async def test_partial_fills_grow_the_take_profit_ladder(fr: FaultRig) -> None:
    d = await fr.r.bracket("BUY", "0.05", ("0.05", "0.08"), qty="300")
    await fr.fault(kind="partial_fill", slices=3, market="futures", client_id_prefix=f"gl-{d}-E")
    await fr.client.submit_bracket(d)

    async def filled_and_covered() -> bool:
        done = await fr.order_status(f"gl-{d}-E") == "FILLED"
        return done and await ladder_covers_position(fr, d)

    await eventually(filled_and_covered, 20, "entry filled, ladder == position")
    legs = [
        r["leg"]
        for r in await fr.pool.fetch("SELECT leg FROM orders WHERE decision_id = $1 ORDER BY id", d)
    ]
    assert legs.count("SL") == 1 and legs[1] == "SL"  # the stop came with the first slice
    assert any("r" in leg for leg in legs), legs  # take-profits re-sized as slices filled
    assert sum(1 for a in await alert_texts(fr) if a.startswith("🛡️ Protected")) == 1
    await flatten_and_check(fr, d)


async def test_algo_timeout_after_execution_is_adopted(fr: FaultRig) -> None:
    await fr.fault(
        kind="timeout", path="/fapi/v1/algoOrder", method="POST", execute=True, delay_ms=300
    )
    d = await fr.r.bracket("SELL", "0.05", ("0.05",), qty="300")
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    await eventually(lambda: ladder_covers_position(fr, d), 15, "ladder == position")
    counts = await no_duplicates(fr)
    assert counts[f"gl-{d}-SL"] == 1 and counts[f"gl-{d}-TP1"] == 1
    await flatten_and_check(fr, d)


async def test_paused_stream_fills_are_caught_up(fr: FaultRig) -> None:
    d = await fr.r.bracket("BUY", "0.05", ("0.05",), qty="300")
    await fr.fault(kind="partial_fill", slices=3, market="futures", client_id_prefix=f"gl-{d}-E")
    await fr.fault(kind="pause_user_stream", seconds=5, drop=True)
    await fr.client.submit_bracket(d)

    async def caught_up() -> bool:
        done = await fr.order_status(f"gl-{d}-E") == "FILLED"
        return done and await ladder_covers_position(fr, d)

    await eventually(caught_up, 20, "missed fills read from the venue, ladder == position")
    assert any(a.startswith(f"🔄 Reconciled #D-{d} ") for a in await alert_texts(fr))
    await fr.admin("faults/clear")
    await flatten_and_check(fr, d)
