"""The simulator over real HTTP: errors with their statuses, orders, klines paging, admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest_asyncio

from sim.client import SignedClient
from sim.server import SimAccount, SimConfig, SimServer
from tests.integration.sim_support import BTC, advance, running_sim, sim_admin, update_ms


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        history_candles=600,
        start_paused=True,
        accounts={
            "rest-key": SimAccount("rest-secret", {"USDT": Decimal("1000")}),
            "rich-key": SimAccount("rich-secret", {"USDT": Decimal("100000")}),
        },
    )
    async with running_sim(config, 2500) as server:
        yield server


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(http: aiohttp.ClientSession, sim: SimServer, key: str = "rest-key") -> SignedClient:
    return SignedClient(http, sim.base_url, key, key.replace("key", "secret"))


async def test_public_endpoints_and_weight_header(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(sim.base_url + "/api/v3/ping") as r:
        assert r.status == 200 and await r.json() == {}
        assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    async with http.get(sim.base_url + "/api/v3/exchangeInfo?symbol=BTCUSDT") as r:
        info = await r.json()
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["LOT_SIZE"]["minQty"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    async with http.get(sim.base_url + '/api/v3/exchangeInfo?symbols=["ETHUSDT"]') as r:
        assert r.status == 400 and (await r.json())["code"] == -1121
    async with http.get(sim.base_url + "/api/v3/ticker/price?symbol=BTCUSDT") as r:
        price = (await r.json())["price"]
    assert price == f"{sim.state.spot.candles['BTCUSDT'].close[599]:.8f}"  # type: ignore[union-attr]


async def test_klines_rows_and_paging(sim: SimServer, http: aiohttp.ClientSession) -> None:
    candles = sim.state.spot.candles["BTCUSDT"]  # type: ignore[union-attr]
    url = sim.base_url + "/api/v3/klines?symbol=BTCUSDT&interval=15m"
    async with http.get(url) as r:
        rows = await r.json()
    assert len(rows) == 500 and rows[-1][0] == int(candles.open_time[599])
    assert [type(x).__name__ for x in rows[0]] == ["int"] + ["str"] * 5 + ["int", "str", "int"] + [
        "str"
    ] * 3
    assert rows[-1][6] == rows[-1][0] + 900_000 - 1 and rows[-1][4] == f"{candles.close[599]:.8f}"
    start = int(candles.open_time[10])
    async with http.get(url + f"&startTime={start}&limit=3") as r:
        page = await r.json()
    assert [row[0] for row in page] == [int(t) for t in candles.open_time[10:13]]
    async with http.get(url + f"&endTime={start}&limit=2") as r:
        assert [row[0] for row in await r.json()] == [int(t) for t in candles.open_time[9:11]]
    async with http.get(url + "&limit=5000") as r:
        assert len(await r.json()) == 600
    for bad, code_ in [("&interval=7m", -1120), ("", None)]:
        async with http.get(sim.base_url + "/api/v3/klines?symbol=BTCUSDT" + bad) as r:
            body = await r.json()
            assert r.status == 400 and body["code"] == (code_ or -1102)
    async with http.get(sim.base_url + "/api/v3/klines?symbol=NOPE&interval=15m") as r:
        assert (await r.json())["code"] == -1121


async def test_klines_include_the_in_progress_candle(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    replay = sim.state.spot.replay  # type: ignore[union-attr]
    status = await sim_admin(sim, "status")
    if status["server_time"] != status["open_time"]:  # another test left a candle half-way
        await advance(sim, status["open_time"] + 900_000 - status["server_time"])
    await advance(sim, update_ms(sim))
    url = sim.base_url + "/api/v3/klines?symbol=BTCUSDT&interval=15m&limit=2"
    async with http.get(url) as r:
        rows = await r.json()
    live = replay.in_progress["BTCUSDT"]
    assert rows[-1][0] == live.open_time and rows[-1][4] == f"{live.close:.8f}"
    assert rows[-2][0] == live.open_time - 900_000
    await advance(sim, replay.k * update_ms(sim))
    async with http.get(url) as r:
        closed = await r.json()
    assert closed[-1][0] == live.open_time and "BTCUSDT" not in replay.in_progress


async def test_auth_errors_have_binance_codes_and_statuses(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim)
    assert (await c.call("GET", "/api/v3/account"))[0] == 200
    status, body, _ = await SignedClient(http, sim.base_url, "rest-key", "wrong").call(
        "GET", "/api/v3/account"
    )
    assert (status, body["code"]) == (400, -1022)
    status, body, _ = await SignedClient(http, sim.base_url, "nobody", "x").call(
        "GET", "/api/v3/account"
    )
    assert (status, body["code"]) == (401, -2015)
    async with http.get(sim.base_url + "/api/v3/account?timestamp=1&signature=ab") as r:
        assert r.status == 401 and (await r.json())["code"] == -2014
    old = c.sign({}, timestamp=1_000_000)
    async with http.get(
        sim.base_url + "/api/v3/account?" + old, headers={"X-MBX-APIKEY": "rest-key"}
    ) as r:
        assert r.status == 400 and (await r.json())["code"] == -1021


async def test_order_errors_and_lifecycle(sim: SimServer, http: aiohttp.ClientSession) -> None:
    c = client(http, sim)
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    cases = [
        ({**base, "quantity": "0.001", "price": "3000.001"}, -1013, "Filter failure: PRICE_FILTER"),
        ({**base, "quantity": "0.000015", "price": "3000"}, -1013, "Filter failure: LOT_SIZE"),
        ({**base, "quantity": "0.001", "price": "3000"}, -1013, "Filter failure: NOTIONAL"),
        (
            {**base, "quantity": "1", "price": "3000"},
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (
            {**base, "price": "3000"},
            -1102,
            "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
        ),
        ({**base, "quantity": "abc", "price": "3000"}, -1100, None),
        (
            {**base, "symbol": "ETHBTC", "quantity": "0.1", "price": "3000"},
            -1121,
            "Invalid symbol.",
        ),
    ]
    for params, code_, msg in cases:
        status, body, _ = await c.call("POST", "/api/v3/order", params)
        assert status == 400 and body["code"] == code_, params
        assert msg is None or body["msg"] == msg
    good = {**base, "quantity": "0.01", "price": "3000", "newClientOrderId": "dup-1"}
    status, placed, headers = await c.call("POST", "/api/v3/order", good)
    assert status == 200 and placed["status"] == "NEW" and placed["orderListId"] == -1
    assert placed["fills"] == [] and int(headers["X-MBX-ORDER-COUNT-10S"]) >= 1
    assert "X-MBX-ORDER-COUNT-1D" in headers
    status, body, _ = await c.call("POST", "/api/v3/order", good)
    assert (status, body["code"], body["msg"]) == (400, -2010, "Duplicate order sent.")
    _, got, _ = await c.call(
        "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "dup-1"}
    )
    assert got["orderId"] == placed["orderId"] and got["cummulativeQuoteQty"] == "0.00000000"
    _, acct, _ = await c.call("GET", "/api/v3/account")
    usdt = next(b for b in acct["balances"] if b["asset"] == "USDT")
    assert (usdt["free"], usdt["locked"]) == ("970.00000000", "30.00000000")
    _, canceled, _ = await c.call(
        "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == "dup-1"
    status, body, _ = await c.call(
        "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert (status, body["code"], body["msg"]) == (400, -2011, "Unknown order sent.")
    status, body, _ = await c.call("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 999999})
    assert (status, body["code"]) == (400, -2013)


async def test_market_order_response_types_and_trades(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    c = client(http, sim, "rich-key")
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    _, ack, _ = await c.call("POST", "/api/v3/order", {**params, "newOrderRespType": "ACK"})
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    _, full, _ = await c.call("POST", "/api/v3/order", params)
    last = (await (await http.get(sim.base_url + "/api/v3/ticker/price?symbol=BTCUSDT")).json())[
        "price"
    ]
    assert full["status"] == "FILLED" and full["fills"][0]["price"] == last
    assert (
        full["fills"][0]["commission"] == "0.00001000"
        and full["fills"][0]["commissionAsset"] == "BTC"
    )
    _, trades, _ = await c.call("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})
    assert [t["orderId"] for t in trades] == [ack["orderId"], full["orderId"]]
    _, orders, _ = await c.call("GET", "/api/v3/allOrders", {"symbol": "BTCUSDT", "limit": 1})
    assert [o["orderId"] for o in orders] == [full["orderId"]]
    status, body, _ = await c.call("POST", "/api/v3/order/test", {**params, "quantity": "5000"})
    assert (status, body["code"]) == (400, -1013)


async def test_oco_over_http_links_legs(sim: SimServer, http: aiohttp.ClientSession) -> None:
    c = client(http, sim, "rich-key")
    last = Decimal(
        (await (await http.get(sim.base_url + "/api/v3/ticker/price?symbol=BTCUSDT")).json())[
            "price"
        ]
    )
    await c.call(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"},
    )
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.05",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": str(last + 500),
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": str(last - 500),
        "belowPrice": str(last - 510),
        "belowTimeInForce": "GTC",
        "listClientOrderId": "oco-1",
    }
    status, bad, _ = await c.call(
        "POST", "/api/v3/orderList/oco", {**params, "abovePrice": str(last - 1)}
    )
    assert (status, bad["code"]) == (400, -2010)
    status, oco, _ = await c.call("POST", "/api/v3/orderList/oco", params)
    assert status == 200 and oco["contingencyType"] == "OCO" and len(oco["orderReports"]) == 2
    _, got, _ = await c.call("GET", "/api/v3/orderList", {"orderListId": oco["orderListId"]})
    assert got["listClientOrderId"] == "oco-1" and got["listOrderStatus"] == "EXECUTING"
    _, gone, _ = await c.call(
        "DELETE", "/api/v3/orderList", {"symbol": "BTCUSDT", "orderListId": oco["orderListId"]}
    )
    assert gone["listOrderStatus"] == "ALL_DONE"
    assert {r["status"] for r in gone["orderReports"]} == {"CANCELED"}


async def test_admin_status_pause_resume_speed(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.get(sim.base_url + "/sim/admin/status") as r:
        st = await r.json()
    assert st["paused"] is True and st["symbols"] == ["BTCUSDT"] and st["total"] == 1900
    async with http.post(sim.base_url + "/sim/admin/speed", json={"candles_per_second": 0}) as r:
        assert r.status == 400
    async with http.post(sim.base_url + "/sim/admin/speed", json={"candles_per_second": 7}) as r:
        assert (await r.json())["candles_per_second"] == 7
    assert (await sim_admin(sim, "resume"))["paused"] is False
    assert sim.status()["paused"] is False
    async with http.post(sim.base_url + "/sim/admin/pause") as r:
        assert (await r.json())["paused"] is True


async def test_scripted_faults_rate_limit_and_unknown_outcome(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    admin = sim.base_url + "/sim/admin/faults"
    async with http.post(admin, json={"kind": "explode"}) as r:
        assert r.status == 400
    async with http.post(
        admin, json={"kind": "rate_limit", "path": "/api/v3/time", "retry_after": 3}
    ) as r:
        assert (await r.json())["pending"] == 1
    async with http.get(sim.base_url + "/api/v3/time") as r:
        assert r.status == 429 and r.headers["Retry-After"] == "3"
        assert (await r.json())["code"] == -1003
    async with http.get(sim.base_url + "/api/v3/time") as r:
        assert r.status == 200
    async with http.post(
        admin, json={"kind": "unknown_after", "path": "/api/v3/order", "method": "POST"}
    ):
        pass
    c = client(http, sim, "rich-key")
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "3000",
        "newClientOrderId": "unknown-1",
    }
    status, body, _ = await c.call("POST", "/api/v3/order", params)
    assert (status, body["code"]) == (503, -1007)
    status, got, _ = await c.call(
        "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "unknown-1"}
    )
    assert status == 200 and got["status"] == "NEW"  # it was placed despite the 503
