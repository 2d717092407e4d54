"""``POST /api/v3/order/cancelReplace`` over HTTP: both modes, 409 partial success,
400 failure with ``data``, and parameter errors that cancel nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest_asyncio

from sim.client import SignedClient
from sim.server import SimAccount, SimConfig, SimServer
from tests.integration.sim_support import BTC, running_sim

PATH = "/api/v3/order/cancelReplace"


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={"cr-key": SimAccount("cr-secret", {"USDT": Decimal(100000)})},
    )
    async with running_sim(config) as server:
        yield server


@pytest_asyncio.fixture
async def c(sim: SimServer) -> AsyncIterator[SignedClient]:
    async with aiohttp.ClientSession() as http:
        client = SignedClient(http, sim.base_url, "cr-key", "cr-secret")
        yield client
        await client.call("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"})


def limit(price: str, kind: str = "LIMIT") -> dict[str, str]:
    out = {"symbol": "BTCUSDT", "side": "BUY", "type": kind, "quantity": "0.01", "price": price}
    return out | ({"timeInForce": "GTC"} if kind == "LIMIT" else {})


async def resting(c: SignedClient, price: str = "3000") -> int:
    status, body, _ = await c.call("POST", "/api/v3/order", limit(price))
    assert status == 200, body
    return int(body["orderId"])


async def open_prices(c: SignedClient) -> list[str]:
    _, body, _ = await c.call("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    return sorted(o["price"] for o in body)


async def replace(c: SignedClient, mode: str, cancel_id: int, new: dict[str, str]) -> Any:
    params = new | {"cancelReplaceMode": mode, "cancelOrderId": cancel_id}
    status, body, _ = await c.call("POST", PATH, params)
    return status, body


async def test_success_cancels_and_places(c: SignedClient) -> None:
    oid = await resting(c)
    status, body = await replace(c, "STOP_ON_FAILURE", oid, limit("3100"))
    assert status == 200
    assert (body["cancelResult"], body["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert body["cancelResponse"]["orderId"] == oid
    assert body["cancelResponse"]["status"] == "CANCELED"
    assert body["newOrderResponse"]["status"] == "NEW"
    assert await open_prices(c) == ["3100.00000000"]


async def test_stop_on_failure_with_unknown_order_attempts_nothing(c: SignedClient) -> None:
    await resting(c)
    status, body = await replace(c, "STOP_ON_FAILURE", 999_999, limit("3100"))
    assert (status, body["code"], body["msg"]) == (400, -2022, "Order cancel-replace failed.")
    assert body["data"] == {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None,
    }
    assert await open_prices(c) == ["3000.00000000"]


async def test_allow_failure_places_despite_a_failed_cancel(c: SignedClient) -> None:
    status, body = await replace(c, "ALLOW_FAILURE", 999_999, limit("3100"))
    assert (status, body["code"]) == (409, -2021)
    assert body["msg"] == "Order cancel-replace partially failed."
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        "FAILURE",
        "SUCCESS",
    )
    assert await open_prices(c) == ["3100.00000000"]


async def test_cancelled_but_new_order_rejected_is_409(c: SignedClient) -> None:
    oid = await resting(c)
    status, body = await replace(c, "STOP_ON_FAILURE", oid, limit("5000", "LIMIT_MAKER"))
    assert (status, body["code"]) == (409, -2021)
    data = body["data"]
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert data["cancelResponse"]["status"] == "CANCELED"
    assert data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would immediately match and take.",
    }
    assert await open_prices(c) == []


async def test_allow_failure_with_both_failing_is_400(c: SignedClient) -> None:
    status, body = await replace(c, "ALLOW_FAILURE", 999_999, limit("5000", "LIMIT_MAKER"))
    assert (status, body["code"]) == (400, -2022)
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        "FAILURE",
        "FAILURE",
    )


async def test_parameter_errors_cancel_nothing(c: SignedClient) -> None:
    oid = await resting(c)
    status, body, _ = await c.call("POST", PATH, limit("3100") | {"cancelOrderId": oid})
    assert (status, body["code"]) == (400, -1102)
    bad = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    status, body = await replace(c, "STOP_ON_FAILURE", oid, bad | {"price": "3100"})
    assert (status, body["code"]) == (400, -1106)
    status, body = await replace(c, "SOMETIMES", oid, limit("3100"))
    assert (status, body["code"]) == (400, -1145)
    assert await open_prices(c) == ["3000.00000000"]
