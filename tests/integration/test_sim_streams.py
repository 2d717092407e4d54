"""Market and user-data WebSockets against a running simulator."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest_asyncio

from sim.client import SignedClient
from sim.http_util import hmac_hex
from sim.server import SimAccount, SimConfig, SimServer
from sim.spot.userdata import ws_signature_payload
from tests.helpers import eventually
from tests.integration.sim_support import BTC, advance, running_sim, sim_admin, update_ms


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        history_candles=300,
        start_paused=True,
        candles_per_second=20,
        accounts={"ws-key": SimAccount("ws-secret", {"USDT": Decimal("50000")})},
    )
    async with running_sim(config, 1500) as server:
        yield server


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> Any:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_kline_stream_sends_open_updates_then_the_closed_candle(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(sim.ws_url + "/ws/btcusdt@kline_15m") as ws:
        await sim_admin(sim, "resume")
        events = [await recv_json(ws) for _ in range(6)]
        await sim_admin(sim, "pause")
    first = events[0]
    assert set(first) == {"e", "E", "s", "k"} and first["e"] == "kline" and first["s"] == "BTCUSDT"
    assert set(first["k"]) == set("tTsifLochlvnxqVQB")
    assert first["k"]["i"] == "15m" and first["k"]["T"] == first["k"]["t"] + 900_000 - 1
    flags = [(e["k"]["t"], e["k"]["x"]) for e in events]
    t0 = flags[0][0]
    start = next(i for i, (t, _) in enumerate(flags) if t != t0 or flags[i][1])
    closed_at = next(i for i, (_, x) in enumerate(flags) if x)
    assert all(not x for _, x in flags[:closed_at]) and closed_at >= 0 and start >= 0
    arr = sim.state.spot.candles["BTCUSDT"]  # type: ignore[union-attr]
    closed = events[closed_at]["k"]
    row = int((closed["t"] - int(arr.open_time[0])) // 900_000)
    assert closed["c"] == f"{arr.close[row]:.8f}" and closed["h"] == f"{arr.high[row]:.8f}"
    assert all(float(e["k"]["h"]) <= float(closed["h"]) for e in events[:closed_at])


async def test_combined_stream_and_control_messages(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(sim.ws_url + "/stream?streams=ethusdt@kline_15m") as ws:
        await ws.send_str(
            json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_15m"], "id": 7})
        )
        assert await recv_json(ws) == {"result": None, "id": 7}
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "a"}))
        assert await recv_json(ws) == {
            "result": ["btcusdt@kline_15m", "ethusdt@kline_15m"],
            "id": "a",
        }
        await ws.send_str("{nope")
        assert (await recv_json(ws))["code"] == 3
        await advance(sim, update_ms(sim))
        frame = await recv_json(ws)
        assert frame["stream"] == "btcusdt@kline_15m" and frame["data"]["e"] == "kline"
        await ws.send_str(
            json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@kline_15m"], "id": 8})
        )
        assert await recv_json(ws) == {"result": None, "id": 8}


async def test_drop_streams_aborts_market_connections(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(sim.ws_url + "/ws/btcusdt@kline_15m") as ws:
        async with http.post(sim.base_url + "/sim/admin/drop-streams") as r:
            assert (await r.json())["dropped"] >= 1
        msg = await ws.receive(timeout=5)
        assert msg.type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
            aiohttp.WSMsgType.CLOSE,
        )


def ws_signed(params: dict[str, Any], secret: str) -> dict[str, Any]:
    params = {**params, "timestamp": int(time.time() * 1000)}
    return {**params, "signature": hmac_hex(secret, ws_signature_payload(params))}


async def test_user_data_over_ws_api_matches_rest(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    rest = SignedClient(http, sim.base_url, "ws-key", "ws-secret")
    async with http.ws_connect(sim.ws_url + "/ws-api/v3") as ws:
        bad = ws_signed({"apiKey": "ws-key"}, "wrong")
        await ws.send_str(
            json.dumps({"id": 1, "method": "userDataStream.subscribe.signature", "params": bad})
        )
        reply = await recv_json(ws)
        assert reply["status"] == 400 and reply["error"]["code"] == -1022
        params = ws_signed({"apiKey": "ws-key"}, "ws-secret")
        await ws.send_str(
            json.dumps({"id": 2, "method": "userDataStream.subscribe.signature", "params": params})
        )
        reply = await recv_json(ws)
        assert reply["status"] == 200 and "subscriptionId" in reply["result"]
        sid = reply["result"]["subscriptionId"]
        _, placed, _ = await rest.call(
            "POST",
            "/api/v3/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"},
        )
        got = [await recv_json(ws) for _ in range(3)]
    assert {g["subscriptionId"] for g in got} == {sid}
    kinds = [(g["event"]["e"], g["event"].get("x")) for g in got]
    assert kinds == [
        ("executionReport", "NEW"),
        ("executionReport", "TRADE"),
        ("outboundAccountPosition", None),
    ]
    trade = got[1]["event"]
    assert trade["i"] == placed["orderId"] and trade["c"] == placed["clientOrderId"]
    assert trade["z"] == placed["executedQty"] and trade["Z"] == placed["cummulativeQuoteQty"]
    assert trade["L"] == placed["fills"][0]["price"] and trade["t"] == placed["fills"][0]["tradeId"]
    _, acct, _ = await rest.call("GET", "/api/v3/account")
    balances = {b["asset"]: b["free"] for b in acct["balances"]}
    assert {b["a"]: b["f"] for b in got[2]["event"]["B"]} == {
        a: balances[a] for a in ("BTC", "USDT")
    }


async def test_logon_then_subscribe_and_fill_from_replay(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    rest = SignedClient(http, sim.base_url, "ws-key", "ws-secret")
    replay = sim.state.spot.replay  # type: ignore[union-attr]
    async with http.ws_connect(sim.ws_url + "/ws-api/v3") as ws:
        await ws.send_str(json.dumps({"id": "s", "method": "userDataStream.subscribe"}))
        assert (await recv_json(ws))["error"]["code"] == -1002
        logon = ws_signed({"apiKey": "ws-key"}, "ws-secret")
        await ws.send_str(json.dumps({"id": "l", "method": "session.logon", "params": logon}))
        assert (await recv_json(ws))["result"]["apiKey"] == "ws-key"
        await ws.send_str(json.dumps({"id": "s", "method": "userDataStream.subscribe"}))
        assert (await recv_json(ws))["status"] == 200
        last = Decimal(replay.last_price["BTCUSDT"]).quantize(Decimal("0.01"))
        _, placed, _ = await rest.call(
            "POST",
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "STOP_LOSS",
                "quantity": "0.01",
                "stopPrice": str(last + Decimal("0.01")),
            },
        )
        assert placed["orderId"] > 0
        events = [(await recv_json(ws))["event"] for _ in range(2)]
        assert [e["e"] for e in events] == ["executionReport", "outboundAccountPosition"]

        async def filled() -> bool:
            _, o, _ = await rest.call(
                "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
            )
            return bool(o["status"] == "FILLED")

        for _ in range(3000):  # bounded: walk the replay until the price rises through the stop
            if replay.last_price["BTCUSDT"] > float(last) + 0.01:
                break
            await advance(sim, update_ms(sim))
        await eventually(filled, 5, "stop filled")
        trade = (await recv_json(ws))["event"]
    assert trade["x"] == "TRADE" and trade["i"] == placed["orderId"]
    assert trade["L"] == f"{last + Decimal('0.01'):.8f}"


async def test_legacy_listen_key_stream(sim: SimServer, http: aiohttp.ClientSession) -> None:
    rest = SignedClient(http, sim.base_url, "ws-key", "ws-secret")
    status, body, _ = await rest.call("POST", "/api/v3/userDataStream", signed=False)
    assert status == 200
    key = body["listenKey"]
    assert (await rest.call("PUT", "/api/v3/userDataStream", {"listenKey": key}, signed=False))[
        0
    ] == 200
    status, err, _ = await rest.call(
        "PUT", "/api/v3/userDataStream", {"listenKey": "zz"}, signed=False
    )
    assert (status, err["code"]) == (400, -1125)
    async with http.ws_connect(sim.ws_url + "/ws/" + key) as ws:
        await eventually(lambda: _has_sub(sim), 5, "listenKey subscription")
        await rest.call(
            "POST",
            "/api/v3/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"},
        )
        assert (await recv_json(ws))["e"] == "executionReport"


async def _has_sub(sim: SimServer) -> bool:
    return any(s.subscription_id is None for s in sim.state.spot.users.subs)  # type: ignore[union-attr]


async def test_replay_sustains_200_candles_per_second_to_two_subscribers(
    http: aiohttp.ClientSession,
) -> None:
    total = 300
    config = SimConfig(
        files={"BTCUSDT": BTC},
        history_candles=10,
        start_paused=True,
        candles_per_second=400,
        max_candles=total,
    )
    async with running_sim(config, 400) as server:
        raw = await http.ws_connect(server.ws_url + "/ws/btcusdt@kline_15m")
        combined = await http.ws_connect(server.ws_url + "/stream?streams=btcusdt@kline_15m")
        closed: list[list[int]] = [[], []]
        server.resume()
        for i, ws in enumerate((raw, combined)):
            while len(closed[i]) < total:  # bounded by the count and by receive timeouts
                data = await recv_json(ws)
                k = data.get("data", data)["k"]
                if k["x"]:
                    closed[i].append(k["t"])
        await raw.close()
        await combined.close()
    assert server.status()["finished"]
    assert (
        closed[0] == closed[1] and closed[0] == sorted(closed[0]) and len(set(closed[0])) == total
    )
