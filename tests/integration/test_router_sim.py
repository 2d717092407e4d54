"""The router process against the Binance-compatible simulator: real HTTP, WS API, matching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from greenlight.core.settings import RouterSettings, Settings, SimSettings, VenueSettings
from router.client import RouterClient, RouterError
from router.config import venue_config
from router.errors import OrderNotFoundError
from router.venues.binance_spot import BinanceSpot
from sim.server import SimAccount, SimConfig, SimServer
from tests.conftest import DATA, free_port
from tests.helpers import eventually
from tests.integration.router_support import (
    decision_state,
)
from tests.integration.spot_sim_rig import TOKEN, Rig, state_is, venue_matches_db

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture
async def rig(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[Rig]:
    sim = SimServer(
        SimConfig(
            files={"BTCUSDT": DATA / Path("BTCUSDT-15m-2019-2020.csv.gz")},
            candles_per_second=6.0,
            accounts={SIM_DEMO_API_KEY: SimAccount(SIM_DEMO_API_SECRET, {"USDT": D("10000")})},
        )
    )
    await sim.start()
    settings = Settings(
        venue=VenueSettings(name="sim", recv_window_ms=1000),
        sim=SimSettings(port=sim.port),
        router=RouterSettings(port=free_port()),
    )
    venue = BinanceSpot(venue_config(settings, {}))
    await venue.start()
    client = RouterClient(f"http://127.0.0.1:{settings.router.port}", TOKEN)
    r = Rig(sim, settings, db_url, pool, venue, client)
    await r.start_router()
    yield r
    if r.task is not None and not r.task.done():
        await r.stop_router()
    await client.close()
    await venue.close()
    await sim.stop()


async def test_approved_bracket_runs_to_close_with_pnl(rig: Rig) -> None:
    d = await rig.bracket_around("0.002", ("0.0015", "0.003"))
    result = await rig.client.submit_bracket(d)
    assert result["accepted"] and result["decision"]["entry_ack_at"] is not None
    state = await rig.client.state()
    legs = {o["leg"]: o for o in state["orders"]}
    assert legs["E"]["status"] == "FILLED"
    # The stops are on the venue (resting, or already filled or expired: the market moves
    # on while this test reads, so look at every order the venue has, not only open ones).
    placed = {o.client_order_id for o in await rig.venue.all_orders("BTCUSDT")}
    assert {f"gl-{d}-SL1", f"gl-{d}-SL2"} <= placed
    # Fills may land between the two reads; the books must agree once the stream caught up.
    await eventually(lambda: venue_matches_db(rig), 5, "venue balance == DB position")

    async def closed() -> bool:
        return await decision_state(rig.pool, d) == "CLOSED"

    await eventually(closed, 60, "decision CLOSED")
    row = await rig.pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    pos = await rig.pool.fetchrow("SELECT * FROM positions WHERE decision_id = $1", d)
    assert row["realized_pnl"] == pos["realized_pnl"] and row["realized_pnl"] != 0
    assert await venue_matches_db(rig)
    venue_trades = [
        t
        for o in await rig.venue.all_orders("BTCUSDT")
        for t in await rig.venue.trades("BTCUSDT", o.order_id)
    ]
    db_fills = await rig.pool.fetchval("SELECT count(*) FROM fills")
    assert db_fills == len(venue_trades)
    alerts = [r["text"] for r in await rig.pool.fetch("SELECT text FROM alerts")]
    assert any("🏁 Closed" in a for a in alerts)

    async def venue_audits() -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await rig.pool.fetch(
            "SELECT decision_id, detail::text AS t FROM audit_log WHERE action LIKE 'venue.%'"
        )
        return rows if any(r["decision_id"] == d for r in rows) else []

    audits = await eventually(venue_audits, 5, "venue requests audited")
    for secret in ("signature", SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET):
        assert all(secret not in r["t"] for r in audits)


async def test_concurrent_submissions_place_one_entry(rig: Rig) -> None:
    d = await rig.bracket_around("0.05", ("0.05",))
    results = await asyncio.gather(*(rig.client.submit_bracket(d) for _ in range(4)))
    assert sum(r["accepted"] for r in results) == 1
    entries = [o for o in await rig.venue.all_orders("BTCUSDT") if o.client_order_id.endswith("-E")]
    assert len(entries) == 1


async def test_refusals_and_bad_token(rig: Rig) -> None:
    pending = await rig.bracket_around("0.05", ("0.05",), state="PENDING")
    with pytest.raises(RouterError, match="PENDING") as err:
        await rig.client.submit_bracket(pending)
    assert err.value.status == 409
    expired = await rig.bracket_around("0.05", ("0.05",))
    await rig.pool.execute(
        "UPDATE decisions SET expires_at = now() - interval '1 s' WHERE id = $1", expired
    )
    with pytest.raises(RouterError, match="expired"):
        await rig.client.submit_bracket(expired)
    intruder = RouterClient(rig.client.base_url, "not-the-token")
    with pytest.raises(RouterError) as bad:
        await intruder.submit_bracket(expired)
    await intruder.close()
    assert bad.value.status == 401
    assert await rig.venue.all_orders("BTCUSDT") == []


async def test_kill_keeps_stops_and_cancels_pending(rig: Rig) -> None:
    d = await rig.bracket_around("0.05", ("0.05",))
    await rig.client.submit_bracket(d)
    pending = await rig.bracket_around("0.05", ("0.05",), state="PENDING")
    killed = await rig.client.kill(False, "tester")
    assert killed["cancelled"] == [pending]
    assert await decision_state(rig.pool, pending) == "CANCELLED"
    resting = {o.client_order_id for o in await rig.venue.open_orders("BTCUSDT")}
    assert {f"gl-{d}-SL1", f"gl-{d}-TP1"} <= resting
    state = await rig.client.state()
    assert state["trading_enabled"] is False and state["venue"]["user_stream_connected"]


async def test_restart_mid_bracket_reconciles_without_duplicates(rig: Rig) -> None:
    rig.sim.pause()  # the market holds still until the OCOs rest (however slow we are)
    d = await rig.bracket_around("0.0015", ("0.001", "0.002"))
    await rig.client.submit_bracket(d)

    async def resting() -> bool:  # protection follows the entry's fill, after the answer
        try:
            for leg in ("SL1", "SL2"):
                await rig.venue.query_order("BTCUSDT", f"gl-{d}-{leg}")
        except OrderNotFoundError:
            return False
        return True

    await eventually(resting, 20, "both OCOs resting on the venue")
    await rig.stop_router()  # the router dies with its OCOs resting
    rig.sim.resume()

    async def venue_done() -> bool:
        reports = [
            await rig.venue.query_order("BTCUSDT", f"gl-{d}-{leg}") for leg in ("SL1", "SL2")
        ]
        return all(r.status in ("FILLED", "EXPIRED") for r in reports)

    await eventually(venue_done, 60, "both OCOs done on the venue while the router is down")
    assert await decision_state(rig.pool, d) == "OPEN"
    await rig.start_router()

    async def closed() -> bool:
        return await decision_state(rig.pool, d) == "CLOSED"

    await eventually(closed, 20, "CLOSED after reconciliation")
    ids = [o.client_order_id for o in await rig.venue.all_orders("BTCUSDT")]
    assert len(ids) == len(set(ids)) == 5  # E + two OCOs, each placed once
    assert await venue_matches_db(rig)
    reconciled = await rig.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'reconcile.difference'"
    )
    assert reconciled >= 2


async def test_approvals_are_routed_without_the_api_call(rig: Rig) -> None:
    # The bot died after approving and before calling the API: NOTIFY alone routes it.
    d = await rig.bracket_around("0.05", ("0.05",))
    await rig.pool.execute("SELECT pg_notify('gl_approved', $1)", str(d))

    async def opened() -> bool:
        return await decision_state(rig.pool, d) == "OPEN"

    await eventually(opened, 10, "routed from NOTIFY")
    # Approved while the router was down (no NOTIFY heard): the start-up sweep routes it.
    await rig.stop_router()
    later = await rig.bracket_around("0.05", ("0.05",))
    await rig.start_router()
    assert await decision_state(rig.pool, later) in ("ROUTED", "OPEN")
    await eventually(lambda: state_is(rig, later, "OPEN"), 10, "routed by the sweep")
    entries = [o for o in await rig.venue.all_orders("BTCUSDT") if o.client_order_id.endswith("-E")]
    assert len(entries) == 2


async def test_user_stream_loss_reconnects_and_reconciles(rig: Rig) -> None:
    d = await rig.bracket_around("0.05", ("0.05",))
    await rig.client.submit_bracket(d)
    runs_before = (await rig.client.state())["venue"]["reconciliations"]
    # /sim/admin/drop-streams only drops market streams, so cut the user-data sockets.
    assert rig.sim.state is not None and rig.sim.state.spot.users.subs
    for sub in list(rig.sim.state.spot.users.subs):
        sub.conn.abort()

    async def reconciled() -> bool:
        venue = (await rig.client.state())["venue"]
        return bool(
            venue["user_stream_connected"]
            and venue["user_stream_reconnects"] >= 1
            and venue["reconciliations"] > runs_before
        )

    await eventually(reconciled, 15, "user stream back and reconciled")
    assert await decision_state(rig.pool, d) == "OPEN"
    await eventually(lambda: venue_matches_db(rig), 5, "venue balance == DB position")


async def _fault(rig: Rig, kind: str, path: str) -> None:
    url = f"{rig.sim.base_url}/sim/admin/faults"
    body = {"kind": kind, "count": 1, "path": path, "method": "POST"}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 200, await resp.text()


async def test_unknown_outcome_entry_is_adopted_not_duplicated(rig: Rig) -> None:
    await _fault(rig, "unknown_after", "/api/v3/order")
    d = await rig.bracket_around("0.05", ("0.05",))
    result = await rig.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    entries = [o for o in await rig.venue.all_orders("BTCUSDT") if o.client_order_id.endswith("-E")]
    assert len(entries) == 1
    status = await rig.pool.fetchval(
        "SELECT status FROM orders WHERE client_order_id = $1", f"gl-{d}-E"
    )
    assert status == "FILLED"


async def test_unknown_outcome_oco_is_adopted_not_duplicated(rig: Rig) -> None:
    await _fault(rig, "unknown_after", "/api/v3/orderList/oco")
    d = await rig.bracket_around("0.05", ("0.05",))
    await rig.client.submit_bracket(d)
    ids = [o.client_order_id for o in await rig.venue.all_orders("BTCUSDT")]
    assert sorted(ids) == sorted([f"gl-{d}-E", f"gl-{d}-TP1", f"gl-{d}-SL1"])
    legs = await rig.pool.fetch("SELECT leg, status FROM orders WHERE decision_id = $1", d)
    assert {r["leg"]: r["status"] for r in legs} == {"E": "FILLED", "TP1": "NEW", "SL1": "NEW"}


async def test_rate_limited_entry_waits_and_is_sent_once_more(rig: Rig) -> None:
    await _fault(rig, "rate_limit", "/api/v3/order")
    d = await rig.bracket_around("0.05", ("0.05",))
    result = await rig.client.submit_bracket(d)
    assert result["decision"]["state"] == "OPEN"
    entries = [o for o in await rig.venue.all_orders("BTCUSDT") if o.client_order_id.endswith("-E")]
    assert len(entries) == 1
