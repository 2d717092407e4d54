"""OTOCO over HTTP: response shape, PENDING_NEW legs, listStatus on the user stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest_asyncio

from sim.client import SignedClient
from sim.server import SimAccount, SimConfig, SimServer
from tests.integration.sim_support import BTC, running_sim


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={"ol-key": SimAccount("ol-secret", {"USDT": Decimal(10000)})},
    )
    async with running_sim(config) as server:
        yield server


async def test_otoco_over_http(sim: SimServer) -> None:
    assert sim.state is not None
    last = sim.state.spot.exchange.price_of("BTCUSDT")
    params = {
        "symbol": "BTCUSDT",
        "listClientOrderId": "br-1",
        "workingType": "LIMIT",
        "workingSide": "BUY",
        "workingPrice": str(last - 50),
        "workingQuantity": "0.01",
        "workingTimeInForce": "GTC",
        "pendingSide": "SELL",
        "pendingQuantity": "0.0099",
        "pendingAboveType": "LIMIT_MAKER",
        "pendingAbovePrice": str(last + 200),
        "pendingBelowType": "STOP_LOSS",
        "pendingBelowStopPrice": str(last - 300),
    }
    async with aiohttp.ClientSession() as http:
        c = SignedClient(http, sim.base_url, "ol-key", "ol-secret")
        status, body, headers = await c.call("POST", "/api/v3/orderList/otoco", params)
        assert status == 200 and body["contingencyType"] == "OTOCO"
        assert body["listClientOrderId"] == "br-1" and headers["X-MBX-ORDER-COUNT-10S"] == "3"
        assert [r["status"] for r in body["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
        assert [r["type"] for r in body["orderReports"]] == ["LIMIT", "LIMIT_MAKER", "STOP_LOSS"]
        bad = params | {"pendingAboveType": "MARKET"}
        status, err, _ = await c.call("POST", "/api/v3/orderList/otoco", bad)
        assert (status, err["code"]) == (400, -2010)
        _, listed, _ = await c.call(
            "GET", "/api/v3/orderList", {"orderListId": body["orderListId"]}
        )
        assert listed["contingencyType"] == "OTOCO" and len(listed["orders"]) == 3
        _, cancelled, _ = await c.call(
            "DELETE", "/api/v3/orderList", {"symbol": "BTCUSDT", "listClientOrderId": "br-1"}
        )
        assert [r["status"] for r in cancelled["orderReports"]] == ["CANCELED"] * 3
