"""What a trade's chart shows besides the candles: the bracket's levels, exit prices that
differ from them, and a triangle at every leg's fills."""

from __future__ import annotations

from typing import Any

from bot.charting import fill_markers, trade_levels

Q = 900_000
SHORT = {
    "bracket": {
        "side": "SELL",
        "entry_price": "1.0909",
        "stop_price": "1.1049",
        "take_profits": [{"price": "1.0699"}, {"price": "1.0629"}, {"price": "1.0489"}],
    }
}


def fill(leg: str, price: str, qty: str, at: int) -> dict[str, Any]:
    return {"leg": leg, "price": price, "quantity": qty, "trade_time": at}


def test_exits_at_their_own_level_add_no_label_and_others_share_one() -> None:
    fills = [
        fill("E", "1.0909", "3000", 10 * Q + 5),
        fill("TP1", "1.0699", "1000", 20 * Q + 7),  # at its target: no extra label
        fill("TP2", "1.0640", "600", 21 * Q),  # a worse price than planned (1.0629)
        fill("TP2", "1.0620", "400", 21 * Q + 9),
        fill("TP3", "1.0632", "1000", 22 * Q),  # the same average as TP2's two fills
    ]
    texts = [lv.label for lv in trade_levels(SHORT, fills)]
    assert texts == [
        "Entry 1.0909",
        "Stop 1.1049",
        "TP1 1.0699",
        "TP2 1.0629",
        "TP3 1.0489",
        "Exit TP2 TP3 1.0632",
    ]


def test_fills_are_triangles_per_leg_and_candle_entry_first() -> None:
    fills = [
        fill("E", "1.0909", "2000", 10 * Q + 5),
        fill("E", "1.0911", "1000", 10 * Q + 80),  # same candle: one marker, averaged
        fill("SL1", "1.1049", "3000", 30 * Q + 1),
    ]
    marks = fill_markers(SHORT, fills, Q)
    assert [(m.time, m.text, m.kind) for m in marks] == [
        (10 * Q, "E", "sell"),  # a short enters by selling
        (30 * Q, "SL1", "buy"),
    ]
    assert abs(marks[0].price - (1.0909 * 2 + 1.0911) / 3) < 1e-12
