from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from router.ledger import figures


def fill(side: str, price: str, qty: str, fee: str, asset: str) -> dict[str, Any]:
    return {
        "side": side,
        "price": D(price),
        "quantity": D(qty),
        "commission": D(fee),
        "commission_asset": asset,
    }


def test_commission_in_base_reduces_the_position_and_pnl_counts_all_fees() -> None:
    rows = [
        fill("BUY", "60000", "0.03", "0.00003", "BTC"),
        fill("BUY", "60100", "0.01", "0.00001", "BTC"),
    ]
    f = figures(rows, "BTC", "USDT")
    assert f.quantity == D("0.03996")
    assert f.entry_price == D("60025")
    assert f.open_quantity == D("0.03996")
    rows.append(fill("SELL", "61000", "0.03996", "2.43756", "USDT"))
    g = figures(rows, "BTC", "USDT")
    assert g.open_quantity == 0
    cost = D("0.03") * 60000 + D("0.01") * 60100
    assert g.realized_pnl == (D("0.03996") * 61000 - D("2.43756") - cost).quantize(D("1e-12"))


def test_partial_exit_realizes_a_proportional_share_of_cost() -> None:
    rows = [fill("BUY", "100", "2", "0.2", "USDT"), fill("SELL", "110", "1", "0.11", "USDT")]
    f = figures(rows, "X", "USDT")
    assert f.open_quantity == 1
    assert f.realized_pnl == D("110") - D("0.11") - D("200.2") / 2
