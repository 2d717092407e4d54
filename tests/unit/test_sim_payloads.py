"""Binance JSON shapes produced from engine events."""

from __future__ import annotations

from decimal import Decimal as D

from sim.replay.player import partial_update
from sim.spot.filters import rules_for
from sim.spot.matching import Exchange
from sim.spot.orders import ListEvent, OcoRequest, OrderEvent, OrderRequest
from sim.spot.payloads import cancel_result, event_json, kline_event, order_query


def venue() -> Exchange:
    ex = Exchange({"BTCUSDT": rules_for("BTCUSDT", [1.0])})
    ex.add_account("a", {"USDT": D(1000), "BTC": D(1)})
    ex.set_price("BTCUSDT", D("10000.00"))
    return ex


def test_cancel_report_carries_new_and_original_client_ids() -> None:
    ex = venue()
    r = OrderRequest(
        "BTCUSDT",
        "BUY",
        "LIMIT",
        D("0.01"),
        price=D("9000"),
        time_in_force="GTC",
        client_order_id="orig-1",
    )
    oid = ex.place("a", r, 1).orders[0].order_id
    out = ex.cancel("a", "BTCUSDT", oid, None, 2, new_client_id="cxl-1")
    report = event_json(out.events[0], 3, 9)
    assert (report["x"], report["X"], report["c"], report["C"]) == (
        "CANCELED",
        "CANCELED",
        "cxl-1",
        "orig-1",
    )
    assert report["g"] == -1 and report["I"] == 9 and report["t"] == -1 and report["N"] is None
    body = cancel_result(out.orders[0], 2)
    assert (body["clientOrderId"], body["origClientOrderId"]) == ("cxl-1", "orig-1")
    assert order_query(out.orders[0])["clientOrderId"] == "orig-1"
    balance = event_json(out.events[1], 3, 10)
    assert balance == {
        "e": "outboundAccountPosition",
        "E": 3,
        "u": 2,
        "B": [{"a": "USDT", "f": "1000.00000000", "l": "0.00000000"}],
    }


def test_list_status_lists_both_legs() -> None:
    ex = venue()
    leg = OrderRequest("BTCUSDT", "SELL", "LIMIT_MAKER", D("0.5"), price=D("11000"))
    stop = OrderRequest("BTCUSDT", "SELL", "STOP_LOSS", D("0.5"), stop_price=D("9000"))
    out = ex.place_oco("a", OcoRequest("BTCUSDT", "SELL", D("0.5"), leg, stop, "L1"), 1)
    ev = next(e for e in out.events if isinstance(e, ListEvent))
    status = event_json(ev, 5, 0)
    assert (status["e"], status["c"], status["l"], status["L"], status["C"]) == (
        "listStatus",
        "OCO",
        "EXEC_STARTED",
        "EXECUTING",
        "L1",
    )
    assert [o["i"] for o in status["O"]] == [o.order_id for o in out.orders]
    news = [event_json(e, 5, 0) for e in out.events if isinstance(e, OrderEvent)]
    assert {n["g"] for n in news} == {ev.order_list.order_list_id}
    assert [n["P"] for n in news] == ["0.00000000", "9000.00000000"]


def test_kline_event_fields_are_typed_like_binance() -> None:
    u = partial_update("BTCUSDT", (100.0, 110.0, 95.0, 105.0, 12.0), (0, 899_999), 0.0, 1 / 3, 2)
    ev = kline_event(u, "15m", 123)
    k = ev["k"]
    assert ev["e"] == "kline" and ev["E"] == 123 and ev["s"] == "BTCUSDT"
    assert isinstance(k["t"], int) and isinstance(k["n"], int) and k["x"] is False
    assert all(isinstance(k[f], str) for f in "ochlvqVQB")
    assert (k["o"], k["l"], k["c"], k["v"]) == (
        "100.00000000",
        "95.00000000",
        "95.00000000",
        "4.00000000",
    )
