"""Kill switch and the HTTP API (with RouterClient) against a fake venue and a real DB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from greenlight.core.contracts import Bracket
from router import brackets, lifecycle
from router.api import build_app
from router.client import RouterClient, RouterError
from router.core import Core
from router.killswitch import KillSwitch
from tests.fakes.router import spot_core
from tests.fakes.venues import FakeSpot, btcusdt_rules
from tests.integration.router_support import decision_state, insert_decision, make_bracket

TOKEN = "t0ken-for-tests"


def bracket(entry_type: str = "MARKET", entry: str = "60250") -> Bracket:
    stop = str(D(entry) - 700)  # below the entry: the router refuses a stop on the wrong side
    return make_bracket(entry, stop, ("61300", "62350"), "0.05", entry_type=entry_type)


def setup(pool: asyncpg.Pool) -> tuple[Core, FakeSpot, KillSwitch]:
    fake = FakeSpot(btcusdt_rules(), D("60250"))
    core = spot_core(pool, fake)
    return core, fake, KillSwitch(core)


async def test_kill_cancels_pending_and_working_entries_but_keeps_stops(pool: asyncpg.Pool) -> None:
    core, fake, kill = setup(pool)
    open_d = await insert_decision(pool, bracket())
    await brackets.route(core, open_d)
    limit_d = await insert_decision(pool, bracket("LIMIT", "58000"))
    await brackets.route(core, limit_d)
    pending = await insert_decision(pool, bracket(), state="PENDING")
    approved = await insert_decision(pool, bracket(), state="APPROVED")

    result = await kill.kill(flatten=False, by="alice")
    assert sorted(result["cancelled"]) == sorted([pending, approved])
    assert await decision_state(pool, pending) == "CANCELLED"
    assert await decision_state(pool, approved) == "CANCELLED"
    assert fake.orders[f"gl-{limit_d}-E"].status == "CANCELED"
    assert await decision_state(pool, limit_d) == "CANCELLED"
    assert await decision_state(pool, open_d) == "OPEN"
    assert {fake.orders[f"gl-{open_d}-SL{i}"].status for i in (1, 2)} == {"NEW"}
    row = await pool.fetchrow("SELECT * FROM control WHERE key = 'trading_enabled'")
    assert row["value"] is False and row["updated_by"] == "alice"
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE kind = 'kill'") == 1

    late = await insert_decision(pool, bracket())
    with pytest.raises(brackets.RouteRefused, match="trading is disabled"):
        await brackets.route(core, late)
    await kill.resume("alice")
    assert (await brackets.route(core, late))["accepted"]


async def test_kill_flatten_closes_the_position_once(pool: asyncpg.Pool) -> None:
    core, fake, kill = setup(pool)
    d = await insert_decision(pool, bracket())
    await brackets.route(core, d)
    await kill.kill(flatten=True, by="bob")
    assert all(fake.orders[f"gl-{d}-{leg}"].status == "CANCELED" for leg in ("TP1", "SL2"))
    x = fake.orders[f"gl-{d}-X"]
    assert x.side == "SELL" and x.order_type == "MARKET" and x.status == "FILLED"
    for ev in list(fake.events):
        await lifecycle.on_execution(core, ev)
    assert await decision_state(pool, d) == "CLOSED"
    await kill.kill(flatten=True, by="bob")
    assert fake.place_calls.count(f"gl-{d}-X") == 1


async def test_error_burst_trips_the_switch(pool: asyncpg.Pool) -> None:
    from router.errors import TemporaryError
    from tests.helpers import eventually

    core, fake, kill = setup(pool)
    for _ in range(5):
        kill.record_error(TemporaryError("boom"))

    async def halted() -> bool:
        value = await pool.fetchval("SELECT value FROM control WHERE key = 'trading_enabled'")
        return value is False

    await eventually(halted, 5, "automatic kill")
    text = await pool.fetchval("SELECT text FROM alerts WHERE kind = 'kill'")
    assert "5 venue errors" in text


@pytest_asyncio.fixture
async def api(pool: asyncpg.Pool) -> AsyncIterator[tuple[RouterClient, FakeSpot, asyncpg.Pool]]:
    core, fake, kill = setup(pool)

    async def state() -> dict[str, object]:
        return {"trading_enabled": True}

    server = TestServer(build_app(core, kill, state, TOKEN), host="127.0.0.1")
    await server.start_server()
    client = RouterClient(str(server.make_url("")), TOKEN)
    yield client, fake, pool
    await client.close()
    await server.close()


async def test_api_routes_once_and_refuses_the_rest(
    api: tuple[RouterClient, FakeSpot, asyncpg.Pool],
) -> None:
    client, fake, pool = api
    d = await insert_decision(pool, bracket())
    first = await client.submit_bracket(d)
    assert first["accepted"] and first["decision"]["state"] == "OPEN"
    again = await client.submit_bracket(d)
    assert again["already"] and not again["accepted"]
    assert fake.place_calls.count(f"gl-{d}-E") == 1

    pending = await insert_decision(pool, bracket(), state="PENDING")
    with pytest.raises(RouterError, match="PENDING, not APPROVED") as err:
        await client.submit_bracket(pending)
    assert err.value.status == 409
    expired = await insert_decision(pool, bracket(), ttl_s=-5)
    with pytest.raises(RouterError, match="expired"):
        await client.submit_bracket(expired)
    with pytest.raises(RouterError, match="does not exist"):
        await client.submit_bracket(999_999)


async def post_as_client(
    client: RouterClient, path: str, body: dict[str, object]
) -> tuple[int, dict[str, Any]]:
    """POST a body :class:`RouterClient` would never send, with its bearer token."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(client.base_url + path, json=body, headers=headers) as resp,
    ):
        answer: dict[str, Any] = await resp.json()
        return resp.status, answer


async def test_api_rejects_bad_tokens_and_bad_bodies(
    api: tuple[RouterClient, FakeSpot, asyncpg.Pool],
) -> None:
    client, fake, pool = api
    d = await insert_decision(pool, bracket())
    intruder = RouterClient(client.base_url, "wrong-token")
    with pytest.raises(RouterError, match="bearer token") as err:
        await intruder.submit_bracket(d)
    assert err.value.status == 401
    await intruder.close()
    assert fake.place_calls == [] and await decision_state(pool, d) == "APPROVED"
    status, body = await post_as_client(client, "/v1/brackets", {"decision_id": "12"})
    assert status == 400 and "'decision_id' must be int" in body["reason"]
    status, body = await post_as_client(client, "/v1/kill", {"flatten": True})
    assert status == 400 and "'by' is required" in body["reason"]
    assert (await client.state())["trading_enabled"] is True
    killed = await client.kill(False, "carol")
    assert killed["trading_enabled"] is False
    assert (await client.resume("carol"))["trading_enabled"] is True
