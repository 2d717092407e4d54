"""Table-driven conformance of the simulator's error answers with the protocol spec
(§2.8 spot, §3.10 USD-M): each row is a request and the expected HTTP status, code, message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from sim.client import SignedClient
from sim.server import SimAccount, SimConfig, SimServer
from tests.integration.sim_support import BTC, DATA, running_sim

KEY, SECRET = "conf-key", "conf-secret"

SPOT_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
FUT_LIMIT = {"symbol": "XRPUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
FUT_MARKET = {"symbol": "XRPUSDT", "side": "BUY", "type": "MARKET"}
ALGO = {"algoType": "CONDITIONAL", "symbol": "XRPUSDT", "side": "SELL", "quantity": "10"}
MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."

Row = tuple[str, str, Mapping[str, Any], int, int, str]
ROWS: list[Row] = [
    # ---- spot (§2.8) ----
    ("GET", "/api/v3/klines", {"interval": "15m"}, 400, -1102, MANDATORY.format("symbol")),
    ("GET", "/api/v3/klines", {"symbol": "NOPE", "interval": "15m"}, 400, -1121, "Invalid symbol."),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "quantity": "0.001", "price": "3000.001"},
        400,
        -1013,
        "Filter failure: PRICE_FILTER",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "quantity": "0.0000001", "price": "3000"},
        400,
        -1013,
        "Filter failure: LOT_SIZE",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "quantity": "0.001", "price": "3000"},
        400,
        -1013,
        "Filter failure: NOTIONAL",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "quantity": "10", "price": "3000"},
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "side": "UP", "quantity": "1", "price": "1"},
        400,
        -1117,
        "Invalid side.",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "type": "FANCY", "quantity": "1"},
        400,
        -1116,
        "Invalid orderType.",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "timeInForce": "GTX", "quantity": "1", "price": "1"},
        400,
        -1115,
        "Invalid timeInForce.",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "type": "MARKET", "quantity": "0.01"},
        400,
        -1114,
        "TimeInForce parameter sent when not required.",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "quantity": "1", "price": "1", "colour": "red"},
        400,
        -1103,
        "An unknown parameter was sent: colour.",
    ),
    (
        "DELETE",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "orderId": "999999"},
        400,
        -2011,
        "Unknown order sent.",
    ),
    (
        "GET",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "orderId": "999999"},
        400,
        -2013,
        "Order does not exist.",
    ),
    (
        "DELETE",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "orderId": "1", "cancelRestrictions": "X"},
        400,
        -1145,
        "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED.",
    ),
    (
        "GET",
        "/api/v3/klines",
        {"symbol": "BTCUSDT", "interval": "7m"},
        400,
        -1120,
        "Invalid interval.",
    ),
    (
        "POST",
        "/api/v3/order",
        {**SPOT_LIMIT, "quantity": "0.01", "price": "100"},
        400,
        -1013,
        "Filter failure: PERCENT_PRICE_BY_SIDE",
    ),
    # ---- USD-M (§3.10) ----
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "type": "STOP_MARKET", "quantity": "10"},
        400,
        -4120,
        "Order type not supported for this endpoint. "
        "Please use the Algo Order API endpoints instead.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "quantity": "1"},
        400,
        -4164,
        "Order's notional must be no smaller than 5 (unless you choose reduce only)",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "quantity": "80000"},
        400,
        -2019,
        "Margin is insufficient.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "quantity": "10", "reduceOnly": "true"},
        400,
        -2022,
        "ReduceOnly Order is rejected.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "quantity": "10", "price": "1.05001"},
        400,
        -4014,
        "Price not increased by tick size.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "quantity": "10.05", "price": "1.05"},
        400,
        -4023,
        "Qty not increased by step size.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "quantity": "0.01", "price": "1.05"},
        400,
        -4004,
        "Quantity less than min quantity.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "quantity": "10", "price": "0.0001"},
        400,
        -4013,
        "Price less than min price.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "quantity": "10", "price": "1.5"},
        400,
        -4016,
        "Price is higher than mark price multiplier cap.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "quantity": "10", "price": "0.5"},
        400,
        -4024,
        "Price is lower than mark price multiplier floor.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_LIMIT, "timeInForce": "GTX", "quantity": "10", "price": "1.1400"},
        400,
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "quantity": "10", "positionSide": "LONG"},
        400,
        -4061,
        "Order's position side does not match user's setting.",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "quantity": "10", "newClientOrderId": "x" * 37},
        400,
        -4015,
        "Client order id length should not be more than 36 chars",
    ),
    (
        "POST",
        "/fapi/v1/order",
        {**FUT_MARKET, "type": "WILD", "quantity": "10"},
        400,
        -1116,
        "Invalid orderType.",
    ),
    (
        "GET",
        "/fapi/v1/order",
        {"symbol": "XRPUSDT", "orderId": "424242"},
        400,
        -2013,
        "Order does not exist.",
    ),
    (
        "DELETE",
        "/fapi/v1/order",
        {"symbol": "XRPUSDT", "orderId": "424242"},
        400,
        -2011,
        "Unknown order sent.",
    ),
    (
        "GET",
        "/fapi/v1/order",
        {"symbol": "XRPUSDT"},
        400,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    ),
    (
        "POST",
        "/fapi/v1/leverage",
        {"symbol": "XRPUSDT", "leverage": "200"},
        400,
        -4028,
        "Leverage 200 is not valid",
    ),
    (
        "POST",
        "/fapi/v1/marginType",
        {"symbol": "XRPUSDT", "marginType": "CROSSED"},
        400,
        -4046,
        "No need to change margin type.",
    ),
    (
        "POST",
        "/fapi/v1/positionSide/dual",
        {"dualSidePosition": "false"},
        400,
        -4059,
        "No need to change position side.",
    ),
    (
        "POST",
        "/fapi/v1/algoOrder",
        {**ALGO, "type": "STOP_MARKET", "triggerPrice": "1.5"},
        400,
        -2021,
        "Order would immediately trigger.",
    ),
    (
        "POST",
        "/fapi/v1/algoOrder",
        {**ALGO, "type": "STOP_MARKET", "triggerPrice": "1", "closePosition": "true"},
        400,
        -4137,
        "Quantity must be zero with closePosition equals true",
    ),
    (
        "POST",
        "/fapi/v1/algoOrder",
        {**ALGO, "type": "STOP_MARKET"},
        400,
        -1102,
        MANDATORY.format("triggerPrice"),
    ),
    ("GET", "/fapi/v1/algoOrder", {"algoId": "31337"}, 400, -2013, "Order does not exist."),
    ("DELETE", "/fapi/v1/algoOrder", {"algoId": "31337"}, 400, -2011, "Unknown order sent."),
    (
        "GET",
        "/fapi/v1/klines",
        {"symbol": "XRPUSDT", "interval": "15m", "limit": "1501"},
        400,
        -1130,
        "Data sent for parameter 'limit' is not valid.",
    ),
    ("GET", "/fapi/v1/premiumIndex", {"symbol": "DOGEUSDT"}, 400, -1121, "Invalid symbol."),
]


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={KEY: SimAccount(SECRET, {"USDT": Decimal("1000")}, Decimal("1000"))},
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
        mark_files={"XRPUSDT": DATA / "XRPUSDT-perp-1h-mark.csv"},
    )
    async with running_sim(config) as server:
        yield server


@pytest.mark.parametrize(("method", "path", "params", "status", "code", "msg"), ROWS)
async def test_error_answer_matches_the_spec(
    sim: SimServer,
    method: str,
    path: str,
    params: Mapping[str, Any],
    status: int,
    code: int,
    msg: str,
) -> None:
    async with aiohttp.ClientSession() as http:
        got_status, body, _ = await SignedClient(http, sim.base_url, KEY, SECRET).call(
            method, path, params, signed=not path.endswith(("klines", "premiumIndex"))
        )
    assert (got_status, body) == (status, {"code": code, "msg": msg})


async def test_auth_and_listen_key_errors(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        bad_sig = SignedClient(http, sim.base_url, KEY, "wrong")
        assert (await bad_sig.call("GET", "/fapi/v2/balance"))[:2] == (
            400,
            {"code": -1022, "msg": "Signature for this request is not valid."},
        )
        nobody = SignedClient(http, sim.base_url, "nobody", "x")
        assert (await nobody.call("GET", "/fapi/v2/account"))[:2] == (
            401,
            {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
        )
        c = SignedClient(http, sim.base_url, KEY, SECRET)
        put = await c.call("PUT", "/fapi/v1/listenKey", {"listenKey": "nope"}, signed=False)
        assert put[:2] == (400, {"code": -1125, "msg": "This listenKey does not exist."})
        old = c.sign({}, timestamp=1_000_000)
        async with http.get(
            f"{sim.base_url}/fapi/v2/balance?{old}", headers={"X-MBX-APIKEY": KEY}
        ) as r:
            assert r.status == 400 and (await r.json()) == {
                "code": -1021,
                "msg": "Timestamp for this request is outside of the recvWindow.",
            }


async def test_weight_budget_answers_429_then_418() -> None:
    config = SimConfig(
        files={"BTCUSDT": BTC}, start_paused=True, weight_limits=(45, 2400), ban_after=2
    )
    async with running_sim(config) as server, aiohttp.ClientSession() as http:
        answers = []
        for _ in range(5):  # bounded: 2 fit in 45, then 429, then ignored → 418
            async with http.get(server.base_url + "/api/v3/exchangeInfo") as r:
                answers.append((r.status, r.headers.get("Retry-After"), await r.json()))
        assert [a[0] for a in answers] == [200, 200, 429, 429, 418]
        status, retry, body = answers[2]
        assert body["code"] == -1003 and body["msg"].startswith(
            "Too much request weight used; current limit is 45 request weight per 1 MINUTE."
        )
        assert retry is not None and 1 <= int(retry) <= 60
        _, ban_retry, ban = answers[4]
        assert ban["msg"].startswith("Way too much request weight used; IP banned until ")
        assert ban_retry == "120"
        async with http.get(server.base_url + "/fapi/v1/time") as r:
            assert r.status == 200  # the USD-M budget is separate
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1"
