"""Admin fault injection over real HTTP/WebSockets: request faults (5xx, delay, timeout,
-1021), their bounds and listing, user-stream drop and pause (spot and USD-M)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from sim.client import SignedClient
from sim.server import SimAccount, SimConfig, SimServer
from tests.helpers import eventually
from tests.integration.sim_support import BTC, DATA, advance, running_sim, update_ms


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={"ft-key": SimAccount("ft-secret", {"USDT": Decimal(100000)}, Decimal(10000))},
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
    )
    async with running_sim(config) as server:
        yield server


@pytest_asyncio.fixture
async def http(sim: SimServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
        async with s.post(sim.base_url + "/sim/admin/faults/clear") as r:
            assert r.status == 200


def client(http: aiohttp.ClientSession, sim: SimServer) -> SignedClient:
    return SignedClient(http, sim.base_url, "ft-key", "ft-secret")


async def fault(http: aiohttp.ClientSession, sim: SimServer, body: dict[str, Any]) -> Any:
    async with http.post(sim.base_url + "/sim/admin/faults", json=body) as r:
        data = await r.json()
        assert r.status == 200, data
        return data


def buy(price: str = "3000") -> dict[str, str]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": price,
    }


async def open_count(c: SignedClient) -> int:
    _, body, _ = await c.call("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    return len(body)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "http_5xx", "status": 404},
        {"kind": "delay"},
        {"kind": "timeout", "delay_ms": 70000},
        {"kind": "partial_fill", "slices": 1},
        {"kind": "partial_fill", "market": "options"},
        {"kind": "recv_window", "count": 0},
        {"kind": "recv_window", "seconds": -1},
        {"kind": "pause_user_stream"},
        {"kind": "pause_user_stream", "seconds": 5, "drop": "yes"},
        {"count": 1},
    ],
)
async def test_bad_fault_bodies_are_refused_and_change_nothing(
    sim: SimServer, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    async with http.post(sim.base_url + "/sim/admin/faults", json=body) as r:
        assert r.status == 400
        assert (await r.json())["code"] in (-1102, -1130)
    async with http.get(sim.base_url + "/sim/admin/faults") as r:
        assert await r.json() == {"faults": [], "user_stream_paused": False}


async def test_http_5xx_without_and_with_execution(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    before = await open_count(c)
    await fault(http, sim, {"kind": "http_5xx", "status": 502, "path": "/api/v3/order"})
    status, body, _ = await c.call("POST", "/api/v3/order", buy())
    assert (status, body["code"]) == (502, -1000)
    assert await open_count(c) == before
    await fault(http, sim, {"kind": "http_5xx", "path": "/api/v3/order", "execute": True})
    status, body, _ = await c.call("POST", "/api/v3/order", buy())
    assert (status, body["code"]) == (503, -1007)
    assert await open_count(c) == before + 1
    status, _, _ = await c.call("POST", "/api/v3/order", buy())
    assert status == 200  # count 1: consumed


async def test_recv_window_hits_only_signed_requests_and_is_bounded(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    await fault(http, sim, {"kind": "recv_window", "count": 2})
    async with http.get(sim.base_url + "/api/v3/time") as r:
        assert r.status == 200  # unsigned: not counted
    for path in ("/api/v3/account", "/fapi/v2/balance"):
        status, body, _ = await c.call("GET", path)
        assert status == 400
        assert body == {
            "code": -1021,
            "msg": "Timestamp for this request is outside of the recvWindow.",
        }
    status, _, _ = await c.call("GET", "/api/v3/account")
    assert status == 200


async def test_delay_holds_the_answer_and_prefix_paths_match(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    await fault(http, sim, {"kind": "delay", "delay_ms": 300, "path": "/fapi/*", "count": 1})
    async with http.get(sim.base_url + "/api/v3/time") as r:
        assert r.status == 200
    t0 = time.monotonic()
    async with http.get(sim.base_url + "/fapi/v1/time") as r:
        assert r.status == 200
    assert time.monotonic() - t0 >= 0.3


async def test_timeout_closes_without_answer_and_may_execute(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    before = await open_count(c)
    for execute, placed in ((False, 0), (True, 1)):
        body = {"kind": "timeout", "delay_ms": 50, "path": "/api/v3/order", "execute": execute}
        await fault(http, sim, body)
        with pytest.raises(aiohttp.ClientError):
            await c.call("POST", "/api/v3/order", buy())
        assert await open_count(c) == before + placed


async def test_faults_are_listed_expire_in_time_and_clear(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    first = await fault(http, sim, {"kind": "rate_limit", "count": 3, "path": "/api/v3/ping"})
    await fault(http, sim, {"kind": "ban", "seconds": 0.2, "path": "/api/v3/time"})
    async with http.get(sim.base_url + "/sim/admin/faults") as r:
        listed = (await r.json())["faults"]
    assert [(f["id"], f["kind"], f["count"]) for f in listed][0] == (first["id"], "rate_limit", 3)
    assert listed[1]["kind"] == "ban" and 0 < listed[1]["seconds_left"] <= 0.2

    async with http.get(sim.base_url + "/api/v3/ping") as r:
        assert r.status == 429

    async def time_ok() -> bool:
        async with http.get(sim.base_url + "/api/v3/time") as r:
            return r.status == 200

    assert await eventually(time_ok, 3, "ban fault expiry")
    async with http.post(sim.base_url + "/sim/admin/faults/clear") as r:
        assert (await r.json())["cleared"] == 1
    async with http.get(sim.base_url + "/api/v3/ping") as r:
        assert r.status == 200


async def futures_stream(
    http: aiohttp.ClientSession, sim: SimServer, c: SignedClient
) -> aiohttp.ClientWebSocketResponse:
    _, body, _ = await c.call("POST", "/fapi/v1/listenKey", signed=False)
    ws = await http.ws_connect(f"{sim.ws_url}/private/ws/{body['listenKey']}")
    fut = sim.state.futures if sim.state is not None else None
    assert fut is not None

    async def ready() -> bool:
        return any(s.account == c.key for s in fut.users)

    await eventually(ready, 5, "futures user stream registered")
    return ws


async def spot_stream(
    http: aiohttp.ClientSession, sim: SimServer, c: SignedClient
) -> aiohttp.ClientWebSocketResponse:
    _, body, _ = await c.call("POST", "/api/v3/userDataStream", signed=False)
    ws = await http.ws_connect(f"{sim.ws_url}/ws/{body['listenKey']}")
    st = sim.state
    assert st is not None

    async def ready() -> bool:
        return any(s.account == c.key for s in st.spot.users.subs)

    await eventually(ready, 5, "spot user stream registered")
    return ws


async def test_drop_user_streams_aborts_spot_and_futures_connections(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    spot, fut = await spot_stream(http, sim, c), await futures_stream(http, sim, c)
    dropped = await fault(http, sim, {"kind": "drop_user_streams"})
    assert dropped["dropped"] == 2
    for ws in (spot, fut):
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def leverage(c: SignedClient, n: int) -> None:
    status, _, _ = await c.call("POST", "/fapi/v1/leverage", {"symbol": "XRPUSDT", "leverage": n})
    assert status == 200


async def test_pause_user_stream_holds_events_in_order_while_rest_answers(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    ws = await futures_stream(http, sim, c)
    await fault(http, sim, {"kind": "pause_user_stream", "seconds": 0.6})
    for n in (5, 6, 7):
        await leverage(c, n)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.receive_json(), 0.2)
    got = [await asyncio.wait_for(ws.receive_json(), 5) for _ in range(3)]
    assert [e["ac"]["l"] for e in got] == [5, 6, 7]
    await ws.close()


async def test_pause_with_drop_discards_events_and_clear_ends_it(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    ws = await futures_stream(http, sim, c)
    await fault(http, sim, {"kind": "pause_user_stream", "seconds": 30, "drop": True})
    await leverage(c, 8)
    async with http.get(sim.base_url + "/sim/admin/faults") as r:
        listed = await r.json()
    assert listed["user_stream_paused"] is True and listed["faults"][0]["dropped"] >= 1
    async with http.post(sim.base_url + "/sim/admin/faults/clear") as r:
        assert (await r.json())["cleared"] == 1
    await leverage(c, 9)
    event = await asyncio.wait_for(ws.receive_json(), 5)
    assert event["ac"]["l"] == 9  # the event sent during the pause was dropped
    await ws.close()


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, n: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(20):  # bounded: balance updates come in between
        ev = await asyncio.wait_for(ws.receive_json(), 5)
        if ev["e"] == kind:
            out.append(ev)
        if len(out) == n:
            break
    return out


async def test_partial_fill_spot_and_futures_over_the_wire(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    assert sim.state is not None and sim.state.futures is not None
    c = client(http, sim)
    spot_ws, fut_ws = await spot_stream(http, sim, c), await futures_stream(http, sim, c)
    await fault(http, sim, {"kind": "partial_fill", "slices": 2, "market": "spot"})
    await fault(http, sim, {"kind": "partial_fill", "slices": 2, "symbol": "XRPUSDT"})
    spot = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.02"}
    status, body, _ = await c.call("POST", "/api/v3/order", spot)
    assert (status, body["status"], body["executedQty"]) == (200, "PARTIALLY_FILLED", "0.01000000")
    fut = {
        "symbol": "XRPUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": "20",
        "newOrderRespType": "RESULT",
    }
    status, fbody, _ = await c.call("POST", "/fapi/v1/order", fut)
    assert (status, fbody["status"], fbody["executedQty"]) == (200, "PARTIALLY_FILLED", "10")
    assert update_ms(sim) == update_ms(sim, futures=True)  # one update on each market
    await advance(sim, update_ms(sim))
    reports = await next_of(spot_ws, "executionReport", 3)
    assert [(r["x"], r["X"], r["z"]) for r in reports] == [
        ("NEW", "NEW", "0.00000000"),
        ("TRADE", "PARTIALLY_FILLED", "0.01000000"),
        ("TRADE", "FILLED", "0.02000000"),
    ]
    updates = await next_of(fut_ws, "ORDER_TRADE_UPDATE", 3)
    assert [(u["o"]["x"], u["o"]["X"], u["o"]["z"]) for u in updates] == [
        ("NEW", "NEW", "0"),
        ("TRADE", "PARTIALLY_FILLED", "10"),
        ("TRADE", "FILLED", "20"),
    ]
    await spot_ws.close()
    await fut_ws.close()
