"""USD-M brackets through the router process against the simulator's ``/fapi`` endpoints."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from yarl import URL

from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from router.errors import InvalidOrderError, PositionModeError, VenueError
from router.signing import signed_query
from router.venues.binance_usdm import BinanceUsdm
from tests.helpers import eventually
from tests.integration.router_support import (
    decision_state,
)
from tests.integration.usdm_sim_rig import Rig, assert_clean_close, closed, running_rig

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def rig(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[Rig]:
    async with running_rig(db_url, pool) as r:
        yield r


async def test_futures_bracket_runs_to_close_without_orphans(rig: Rig) -> None:
    await rig.admin("pause")  # the market holds still while the bracket is placed
    d = await rig.bracket("BUY", "0.006", ("0.004", "0.008"))
    result = await rig.client.submit_bracket(d)
    assert result["accepted"] and result["decision"]["entry_ack_at"] is not None
    state = await rig.client.state()
    legs = {o["leg"]: o for o in state["orders"]}
    assert legs["E"]["status"] == "FILLED" and set(legs) == {"E", "SL", "TP1", "TP2"}
    resting = {a.client_algo_id: a for a in await rig.venue.open_algos("XRPUSDT")}
    assert set(resting) == {f"gl-{d}-SL", f"gl-{d}-TP1", f"gl-{d}-TP2"}
    assert (
        resting[f"gl-{d}-SL"].close_position and resting[f"gl-{d}-SL"].order_type == "STOP_MARKET"
    )
    assert resting[f"gl-{d}-TP1"].order_type == "TAKE_PROFIT_MARKET"
    (pos,) = await rig.venue.positions()
    assert pos.leverage == 2 and pos.margin_type == "ISOLATED" and pos.amount == D(300)
    await rig.admin("resume")
    await eventually(lambda: closed(rig, d), 90, "decision CLOSED")
    await assert_clean_close(rig, d)


async def test_kill_flatten_closes_short_with_reduce_only(rig: Rig) -> None:
    await rig.admin("pause")
    d = await rig.bracket("SELL", "0.1", ("0.2",))  # a wider stop would risk > 0.55 % of equity
    await rig.client.submit_bracket(d)
    await rig.admin("resume")
    assert await rig.venue_position() == D(-300)
    out = await rig.client.kill(True, "tester")
    assert out["live"] == [d]
    await eventually(lambda: closed(rig, d), 20, "flattened decision CLOSED")
    flat = await rig.pool.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", f"gl-{d}-X")
    assert flat["side"] == "BUY" and flat["status"] == "FILLED"
    audit = await rig.pool.fetchval(
        "SELECT detail::text FROM audit_log WHERE action = 'venue.post'"
        " AND detail->'params'->>'newClientOrderId' = $1",
        f"gl-{d}-X",
    )
    assert '"reduceOnly": "true"' in audit
    await assert_clean_close(rig, d)


async def test_restart_mid_bracket_reconciles_to_venue(rig: Rig) -> None:
    await rig.admin("pause")
    d = await rig.bracket("BUY", "0.004", ("0.004",))
    await rig.client.submit_bracket(d)
    await rig.stop_router()
    await rig.admin("resume")

    async def venue_flat() -> bool:
        return await rig.venue_position() == 0

    await eventually(venue_flat, 90, "the bracket ran out on the venue while we were down")
    assert await decision_state(rig.pool, d) == "OPEN"
    await rig.start_router()
    await eventually(lambda: closed(rig, d), 20, "reconciled decision CLOSED")
    await assert_clean_close(rig, d)
    alerts = [a["text"] for a in await rig.pool.fetch("SELECT text FROM alerts")]
    assert any(f"Reconciled #D-{d}" in a for a in alerts)


async def usdm_state(r: Rig) -> dict[str, Any]:
    state: dict[str, Any] = (await r.client.state())["usdm"]
    return state


async def test_listen_key_keepalive_keeps_the_stream(db_url: str, pool: asyncpg.Pool) -> None:
    async with running_rig(db_url, pool, key_ttl_s=1.5, keepalive_s=0.3) as r:

        async def kept_alive() -> bool:
            return bool((await usdm_state(r))["listen_key_keepalives"] >= 8)  # > 2 key lifetimes

        await eventually(kept_alive, 10, "listen key keepalives")
        usdm = await usdm_state(r)
        assert usdm["user_stream_connected"] and usdm["user_stream_reconnects"] == 0


async def test_listen_key_expiry_reconnects_and_reconciles(db_url: str, pool: asyncpg.Pool) -> None:
    async with running_rig(db_url, pool, key_ttl_s=1.0, keepalive_s=60) as r:
        runs = (await r.client.state())["venue"]["reconciliations"]

        async def reconnected() -> bool:
            usdm = await usdm_state(r)
            return bool(usdm["user_stream_connected"] and usdm["user_stream_reconnects"] >= 1)

        await eventually(reconnected, 10, "futures user stream back after listenKeyExpired")
        assert "expired" in (await usdm_state(r))["user_stream_error"]
        assert (await r.client.state())["venue"]["reconciliations"] > runs


async def test_hedge_mode_account_is_refused_at_start(rig: Rig) -> None:
    params = {"dualSidePosition": "true", "timestamp": str(int(time.time() * 1000))}
    url = f"{rig.sim.base_url}/fapi/v1/positionSide/dual?"
    url += signed_query(SIM_DEMO_API_SECRET, params)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(URL(url, encoded=True), headers={"X-MBX-APIKEY": SIM_DEMO_API_KEY})
        assert resp.status == 200, await resp.text()
    fresh = BinanceUsdm(rig.venue.config)
    try:
        with pytest.raises(PositionModeError, match="hedge mode"):
            await fresh.start()
    finally:
        await fresh.close()


async def test_margin_type_no_change_is_not_a_venue_error(rig: Rig) -> None:
    errors: list[VenueError] = []
    fresh = BinanceUsdm(rig.venue.config, on_error=errors.append)
    await fresh.start()
    try:
        assert await fresh.ensure_margin_type("XRPUSDT", "CROSSED") is False  # already CROSSED
        assert await fresh.ensure_margin_type("XRPUSDT", "ISOLATED") is True
        assert await fresh.ensure_margin_type("XRPUSDT", "ISOLATED") is False
        assert await fresh.set_leverage("XRPUSDT", 3) == 3
        with pytest.raises(InvalidOrderError):
            await fresh.set_leverage("XRPUSDT", 500)  # -4028
    finally:
        await fresh.close()
    assert [e.code for e in errors] == [-4028]


async def test_unknown_outcomes_are_adopted_not_duplicated(rig: Rig) -> None:
    await rig.admin("pause")
    async with aiohttp.ClientSession() as http:
        for path in ("/fapi/v1/order", "/fapi/v1/algoOrder"):
            fault = {"kind": "unknown_after", "count": 1, "path": path, "method": "POST"}
            resp = await http.post(f"{rig.sim.base_url}/sim/admin/faults", json=fault)
            assert resp.status == 200, await resp.text()
    d = await rig.bracket("BUY", "0.05", ("0.05", "0.1"))
    result = await rig.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    assert await rig.venue_position() == D(300)  # one entry only

    async def db_caught_up() -> bool:
        return await rig.db_position() == D(300)

    await eventually(db_caught_up, 5, "entry fills from the user stream")
    resting = sorted(a.client_algo_id for a in await rig.venue.open_algos("XRPUSDT"))
    assert resting == [f"gl-{d}-SL", f"gl-{d}-TP1", f"gl-{d}-TP2"]
    posts = await rig.pool.fetch(
        "SELECT detail->>'status' AS status, coalesce(detail->'params'->>'newClientOrderId',"
        " detail->'params'->>'clientAlgoId') AS cid FROM audit_log WHERE action = 'venue.post'"
        " AND decision_id = $1",
        d,
    )
    sent = [p["cid"] for p in posts if p["cid"]]
    assert sorted(sent) == sorted({*sent}) and len(sent) == 4  # every leg sent exactly once
    assert sorted(p["status"] for p in posts if p["cid"]).count("503") == 2
    await rig.admin("resume")
