"""Request faults (timeouts, delays, 5xx, -1021, 429, 418) on spot brackets through the router
and the simulator; every test asserts the end state on the venue and in the database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from greenlight.core.settings import GuardSettings
from router.client import RouterError
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
ORDER, OCO = "/api/v3/order", "/api/v3/orderList/oco"


@pytest_asyncio.fixture
async def fr(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[FaultRig]:
    async with fault_rig(db_url, pool) as rig:
        yield rig


async def _open_and_clean(fr: FaultRig, d: int) -> None:
    await eventually(lambda: spot_fully_protected(fr, d), 15, "entry protected")
    counts = await no_duplicates(fr)
    assert counts[f"gl-{d}-E"] == 1 and counts[f"gl-{d}-SL1"] == 1
    await assert_spot_closed_clean(fr, d)


async def _venue_requests(fr: FaultRig, path: str) -> int:
    n: int = await fr.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'venue.%' AND detail->>'path' = $1",
        path,
    )
    return n


async def test_timeout_after_execution_is_queried_and_adopted(fr: FaultRig) -> None:
    await fr.fault(kind="timeout", path=ORDER, method="POST", execute=True, delay_ms=300)
    d = await fr.spot_decision("0.05", ("0.05",))
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    assert await fr.order_status(f"gl-{d}-E") == "FILLED"
    await _open_and_clean(fr, d)


async def test_timeout_without_execution_is_sent_exactly_once_more(fr: FaultRig) -> None:
    await fr.fault(kind="timeout", path=OCO, method="POST", delay_ms=300)
    d = await fr.spot_decision("0.05", ("0.05",))
    await fr.client.submit_bracket(d)
    await eventually(lambda: _venue_requests(fr, OCO), 5, "OCO requests audited")
    await _open_and_clean(fr, d)


async def test_delayed_answer_is_waited_for(fr: FaultRig) -> None:
    await fr.fault(kind="delay", path=ORDER, method="POST", delay_ms=700)
    d = await fr.spot_decision("0.05", ("0.05",))
    started = time.monotonic()
    result = await fr.client.submit_bracket(d)
    assert time.monotonic() - started >= 0.7
    assert result["decision"]["entry_ack_at"] is not None
    await _open_and_clean(fr, d)


async def test_5xx_with_and_without_execution(fr: FaultRig) -> None:
    await fr.fault(kind="http_5xx", status=502, path=ORDER, method="POST")  # not executed
    await fr.fault(kind="http_5xx", path=OCO, method="POST", execute=True)  # executed
    d = await fr.spot_decision("0.05", ("0.05",))
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    rows = await fr.pool.fetch("SELECT leg, status FROM orders WHERE decision_id = $1", d)
    assert {r["leg"]: r["status"] for r in rows} == {"E": "FILLED", "TP1": "NEW", "SL1": "NEW"}
    assert await _venue_requests(fr, ORDER) >= 2  # the entry was provably absent: resent once
    await _open_and_clean(fr, d)


async def test_recv_window_burst_resyncs_and_continues(fr: FaultRig) -> None:
    await fr.fault(kind="recv_window", count=3)
    d = await fr.spot_decision("0.05", ("0.05",))
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"

    async def refusals() -> int:
        n: int = await fr.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'venue.%'"
            " AND detail->'response'->>'code' = '-1021'"
        )
        return n if n == 3 else 0

    await eventually(refusals, 5, "three -1021 answers audited")
    assert (await fr.client.state())["trading_enabled"] is True
    await _open_and_clean(fr, d)


async def test_429_backs_off_and_sends_once_more(fr: FaultRig) -> None:
    await fr.fault(kind="rate_limit", path=OCO, method="POST", retry_after=1)
    d = await fr.spot_decision("0.05", ("0.05",))
    started = time.monotonic()
    await fr.client.submit_bracket(d)
    assert time.monotonic() - started >= 1.0  # waited out Retry-After before the second try
    await _open_and_clean(fr, d)


async def test_418_stops_every_request_until_retry_after(fr: FaultRig) -> None:
    await fr.fault(kind="ban", path=ORDER, method="POST", retry_after=3)
    d = await fr.spot_decision("0.05", ("0.05",))
    result = await fr.client.submit_bracket(d)
    assert result["decision"]["state"] == "FAILED"  # the ban refused it: never executed
    assert any("HTTP 418" in a for a in await alert_texts(fr, "ban"))
    sent = await eventually(lambda: _venue_requests(fr, ORDER), 5, "banned request audited")
    assert sent == 1
    later = await fr.spot_decision("0.05", ("0.05",))
    with pytest.raises(RouterError, match="venue unavailable"):
        await fr.client.submit_bracket(later)  # refused locally: nothing goes out
    assert await _venue_requests(fr, ORDER) == sent

    async def ban_over() -> bool:
        return any("ban over" in a for a in await alert_texts(fr, "ban"))

    await eventually(ban_over, 10, "ban over after Retry-After")
    assert (await fr.client.submit_bracket(later))["decision"]["state"] == "OPEN"
    assert (await no_duplicates(fr))[f"gl-{d}-E"] == 0
    await _open_and_clean(fr, later)


async def test_error_burst_threshold_comes_from_settings(db_url: str, pool: asyncpg.Pool) -> None:
    guards = GuardSettings(error_burst=2, error_window_s=30)
    async with fault_rig(db_url, pool, guards=guards) as fr:
        d = await fr.spot_decision("0.05", ("0.05",))
        await fr.fault(kind="http_5xx", count=2, path="/api/v3/ticker/price")
        for _ in range(2):
            with pytest.raises(RouterError, match="venue unavailable"):
                await fr.client.submit_bracket(d)

        async def tripped() -> bool:
            return any("2 venue errors within 30s" in a for a in await alert_texts(fr, "kill"))

        await eventually(tripped, 5, "kill switch tripped by the configured burst")
        assert (await fr.client.state())["trading_enabled"] is False


async def test_router_started_during_a_ban_waits_it_out(fr: FaultRig) -> None:
    await fr.r.stop_router()
    # the router's first request at start-up is banned (HTTP 418 for 2 s, every request):
    # it waits the ban out and catches up instead of ending (under `up` that would stop
    # the whole system)
    await fr.fault(kind="ban", path="/api/v3/exchangeInfo", method="GET", retry_after=2)
    await fr.r.start_router()
    banned = await fr.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'venue.%'"
        " AND (detail->>'status')::int = 418"
    )
    assert banned >= 1
    d = await fr.spot_decision("0.05", ("0.05",))
    assert (await fr.client.submit_bracket(d))["decision"]["state"] == "OPEN"
    await _open_and_clean(fr, d)
