"""USD-M over HTTP and WebSockets: user-stream ordering, algo triggers on the replay,
funding settlement at funding times, mark-price stream, listen-key expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest_asyncio

from sim.client import SignedClient
from sim.replay.player import Replay
from sim.server import SimAccount, SimConfig, SimServer
from tests.helpers import eventually
from tests.integration.sim_support import BTC, DATA, advance, running_sim, update_ms

FUNDING_RATE = Decimal("0.0001")  # every row of the bundled funding file


def config(ttl: float = 3600.0) -> SimConfig:
    return SimConfig(
        files={"BTCUSDT": BTC},
        start_paused=True,
        accounts={
            "fa-key": SimAccount("fa-secret", {"USDT": Decimal(1000)}, Decimal(1000)),
            "fb-key": SimAccount("fb-secret", {"USDT": Decimal(1000)}, Decimal(1000)),
            "fc-key": SimAccount("fc-secret", {"USDT": Decimal(1000)}, Decimal(1000)),
        },
        futures_files={"XRPUSDT": DATA / "XRPUSDT-perp-5m-futures.csv"},
        mark_files={"XRPUSDT": DATA / "XRPUSDT-perp-1h-mark.csv"},
        funding_files={"XRPUSDT": DATA / "XRPUSDT-perp-8h-funding_rate.csv"},
        listen_key_ttl=ttl,
    )


@pytest_asyncio.fixture(scope="module")
async def sim() -> AsyncIterator[SimServer]:
    async with running_sim(config()) as server:
        yield server


def freplay(sim: SimServer) -> Replay:
    assert sim.state is not None and sim.state.futures is not None
    return sim.state.futures.replay


async def user_stream(
    http: aiohttp.ClientSession, sim: SimServer, c: SignedClient
) -> aiohttp.ClientWebSocketResponse:
    _, body, _ = await c.call("POST", "/fapi/v1/listenKey", signed=False)
    ws = await http.ws_connect(f"{sim.ws_url}/private/ws/{body['listenKey']}")
    assert sim.state is not None and sim.state.futures is not None
    fut = sim.state.futures
    await eventually(lambda: _ready(any(s.account == c.key for s in fut.users)), 5, "stream")
    return ws


async def _ready(value: bool) -> bool:
    return value


async def events(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(ws.receive_json(), 5) for _ in range(n)]


def summary(ev: dict[str, Any]) -> tuple[str, str]:
    if ev["e"] not in ("ORDER_TRADE_UPDATE", "ALGO_UPDATE", "ACCOUNT_UPDATE"):
        return ev["e"], ""
    if ev["e"] == "ORDER_TRADE_UPDATE":
        return ev["e"], ev["o"]["x"]
    if ev["e"] == "ALGO_UPDATE":
        return ev["e"], ev["o"]["X"]
    return ev["e"], ev["a"]["m"]


async def test_order_algo_and_funding_events_in_rest_order(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        c = SignedClient(http, sim.base_url, "fa-key", "fa-secret")
        ws = await user_stream(http, sim, c)
        assert (await c.call("POST", "/fapi/v1/leverage", {"symbol": "XRPUSDT", "leverage": 3}))[0]
        config_ev = (await events(ws, 1))[0]
        assert config_ev["e"] == "ACCOUNT_CONFIG_UPDATE" and config_ev["ac"] == {
            "s": "XRPUSDT",
            "l": 3,
        }
        entry = {"symbol": "XRPUSDT", "side": "BUY", "type": "MARKET", "quantity": "100"}
        status, placed, headers = await c.call("POST", "/fapi/v1/order", entry)
        assert status == 200 and placed["status"] == "NEW"  # ACK: the order as accepted
        assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
        got = await events(ws, 3)
        assert [summary(e) for e in got] == [
            ("ORDER_TRADE_UPDATE", "NEW"),
            ("ACCOUNT_UPDATE", "ORDER"),
            ("ORDER_TRADE_UPDATE", "TRADE"),
        ]
        fill = got[2]["o"]
        assert fill["i"] == placed["orderId"] and fill["X"] == "FILLED" and fill["z"] == "100"
        (pos,) = got[1]["a"]["P"]
        assert pos["pa"] == "100" and pos["ep"] == fill["L"] and pos["ps"] == "BOTH"
        mark_now = sim.state.futures.book.mark("XRPUSDT")  # type: ignore[union-attr]
        assert Decimal(pos["up"]) == 100 * (mark_now - Decimal(pos["ep"]))
        _, query, _ = await c.call("GET", "/fapi/v1/order", {"symbol": "XRPUSDT", "orderId": 1})
        assert query["avgPrice"] == fill["ap"] and query["updateTime"] == fill["T"]

        stop = {"algoType": "CONDITIONAL", "symbol": "XRPUSDT", "side": "SELL"}
        stop |= {"type": "STOP_MARKET", "triggerPrice": "0.9000", "closePosition": "true"}
        status, algo, _ = await c.call("POST", "/fapi/v1/algoOrder", stop | {"clientAlgoId": "s1"})
        assert status == 200 and algo["algoStatus"] == "NEW" and algo["clientAlgoId"] == "s1"
        assert summary((await events(ws, 1))[0]) == ("ALGO_UPDATE", "NEW")
        _, listed, _ = await c.call("GET", "/fapi/v1/openAlgoOrders", {"symbol": "XRPUSDT"})
        assert [a["algoId"] for a in listed] == [algo["algoId"]]

        # funding: step the futures replay across the next funding time
        fut = sim.state.futures  # type: ignore[union-attr]
        assert fut is not None
        before = fut.book.accounts["fa-key"].wallet
        funding_at = fut.feeds["XRPUSDT"].next_funding_time(fut.clock["XRPUSDT"])
        for _ in range(200):
            if fut.clock["XRPUSDT"] >= funding_at:
                break
            await advance(sim, update_ms(sim, futures=True))
        fee_ev = next(e for e in await events(ws, 1) if e["e"] == "ACCOUNT_UPDATE")
        assert fee_ev["a"]["m"] == "FUNDING_FEE"
        mark = fut.book.mark("XRPUSDT")
        expected = (-Decimal(100) * mark * FUNDING_RATE).quantize(Decimal("1e-8"))
        assert Decimal(fee_ev["a"]["B"][0]["bc"]) == expected
        assert fut.book.accounts["fa-key"].wallet == before + expected
        _, history, _ = await c.call(
            "GET", "/fapi/v1/fundingRate", {"symbol": "XRPUSDT", "limit": 1}, signed=False
        )
        assert history[-1]["fundingTime"] // 1000 == funding_at // 1000

        _, cancelled, _ = await c.call("DELETE", "/fapi/v1/algoOrder", {"clientAlgoId": "s1"})
        assert cancelled["code"] == "200"
        assert summary((await events(ws, 1))[0]) == ("ALGO_UPDATE", "CANCELED")
        close = entry | {"side": "SELL", "reduceOnly": "true", "newOrderRespType": "RESULT"}
        _, closed, _ = await c.call("POST", "/fapi/v1/order", close)
        assert closed["status"] == "FILLED"
        _, risk, _ = await c.call("GET", "/fapi/v3/positionRisk")
        assert risk == []
        await ws.close()


async def test_limit_rests_then_fills_on_the_replay_path(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        c = SignedClient(http, sim.base_url, "fb-key", "fb-secret")
        ws = await user_stream(http, sim, c)
        fut = sim.state.futures  # type: ignore[union-attr]
        assert fut is not None
        last = fut.book.last["XRPUSDT"]
        arr = fut.candles["XRPUSDT"]
        _, hi = freplay(sim).visible_range("XRPUSDT")
        future_low = Decimal(repr(float(arr.low[hi : hi + 40].min())))
        price = max(future_low, last * Decimal("0.96")).quantize(Decimal("0.0001"))
        order = {"symbol": "XRPUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        order |= {"quantity": "20", "price": str(price), "newClientOrderId": "dup"}
        assert (await c.call("POST", "/fapi/v1/order", order))[0] == 200
        status, body, _ = await c.call("POST", "/fapi/v1/order", order)
        assert (status, body) == (400, {"code": -4116, "msg": "ClientOrderId is duplicated."})
        assert summary((await events(ws, 1))[0]) == ("ORDER_TRADE_UPDATE", "NEW")
        for _ in range(200):
            if not fut.book.open_orders("fb-key"):
                break
            await advance(sim, update_ms(sim, futures=True))
        got = await events(ws, 2)
        assert [summary(e) for e in got] == [
            ("ACCOUNT_UPDATE", "ORDER"),
            ("ORDER_TRADE_UPDATE", "TRADE"),
        ]
        assert got[1]["o"]["m"] is True and Decimal(got[1]["o"]["L"]) == price
        _, trades, _ = await c.call("GET", "/fapi/v1/userTrades", {"symbol": "XRPUSDT"})
        assert trades[-1]["maker"] is True and Decimal(trades[-1]["price"]) == price
        await ws.close()


async def test_batch_orders_and_hedge_mode(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        c = SignedClient(http, sim.base_url, "fc-key", "fc-secret")
        fut = sim.state.futures  # type: ignore[union-attr]
        assert fut is not None
        low = (fut.book.mark("XRPUSDT") * Decimal("0.96")).quantize(Decimal("0.0001"))
        base = {"symbol": "XRPUSDT", "side": "BUY", "quantity": "10"}
        batch = [
            base | {"type": "LIMIT", "timeInForce": "GTC", "price": str(low)},
            base | {"type": "STOP_MARKET", "stopPrice": "1.2"},
            base | {"type": "MARKET", "reduceOnly": True},
        ]
        status, answers, _ = await c.call(
            "POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps(batch)}
        )
        assert status == 200 and answers[0]["status"] == "NEW"
        assert [a.get("code") for a in answers[1:]] == [-4120, -2022]
        status, _, _ = await c.call(
            "POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}
        )
        assert status == 400  # -4067: an open order exists
        await c.call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "XRPUSDT"})
        status, ok, _ = await c.call(
            "POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}
        )
        assert (status, ok) == (200, {"code": 200, "msg": "success"})
        assert (await c.call("GET", "/fapi/v1/positionSide/dual"))[1] == {"dualSidePosition": True}
        market = base | {"type": "MARKET"}
        status, err, _ = await c.call("POST", "/fapi/v1/order", market)
        assert (status, err["code"]) == (400, -4061)
        await c.call("POST", "/fapi/v1/order", market | {"positionSide": "LONG"})
        await c.call("POST", "/fapi/v1/order", market | {"side": "SELL", "positionSide": "SHORT"})
        _, risk, _ = await c.call("GET", "/fapi/v2/positionRisk", {"symbol": "XRPUSDT"})
        assert {r["positionSide"]: r["positionAmt"] for r in risk} == {"LONG": "10", "SHORT": "-10"}
        too_much = market | {"side": "SELL", "positionSide": "LONG", "quantity": "20"}
        status, err, _ = await c.call("POST", "/fapi/v1/order", too_much)
        assert (status, err["code"]) == (400, -2022)


async def test_mark_price_and_kline_streams(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{sim.ws_url}/market/stream?streams=xrpusdt@markPrice@1s/xrpusdt@kline_15m"
        ws = await http.ws_connect(url)
        fut = sim.state.futures  # type: ignore[union-attr]
        assert fut is not None
        await eventually(lambda: _ready(bool(fut.market.conns)), 5, "market connection")
        await advance(sim, update_ms(sim, futures=True))
        got = {m["stream"]: m["data"] for m in await events(ws, 2)}
        mark = got["xrpusdt@markPrice@1s"]
        assert mark["e"] == "markPriceUpdate" and mark["s"] == "XRPUSDT"
        assert Decimal(mark["p"]) == fut.book.mark("XRPUSDT") and mark["r"] == "0.0001"
        assert mark["T"] % (8 * 3_600_000) == 0
        kline = got["xrpusdt@kline_15m"]["k"]
        assert kline["i"] == "15m" and kline["c"] == f"{fut.replay.last_price['XRPUSDT']:.8f}"
        await ws.close()


async def test_listen_key_expires_with_event_and_keepalive_extends() -> None:
    async with running_sim(config(ttl=0.4)) as server, aiohttp.ClientSession() as http:
        c = SignedClient(http, server.base_url, "fa-key", "fa-secret")
        ws = await user_stream(http, server, c)
        _, body, _ = await c.call("POST", "/fapi/v1/listenKey", signed=False)
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        assert msg["e"] == "listenKeyExpired" and msg["listenKey"] == body["listenKey"]
        closed = await asyncio.wait_for(ws.receive(), 5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        put = await c.call("PUT", "/fapi/v1/listenKey", body, signed=False)
        assert put[:2] == (400, {"code": -1125, "msg": "This listenKey does not exist."})
