"""Parity: the same candles and settings through ``greenlight demo`` (the real sim, engine,
router and bot with auto-approve) and through ``greenlight backtest`` with the ``sim`` fill
path and no slippage make the same decisions (time, side, entry, stop, targets) and fill
them at the same prices.

The demo replays ``sim.history_candles`` (600) BTCUSDT 15m candles of history, of which the
engine warms up on the last ``market.warmup_candles`` (300), then 300 live candles; the
simulator runs on the file's own clock (``sim.clock = "historical"``, so ``clock_shift_ms``
is 0 and times compare as they are) and without its USD-M market.

Differences by design, each asserted below rather than hidden:

* **Same-candle re-entry.** When a position's stop fills inside a candle and that candle's
  close carries a new signal, the backtest counts the position closed at that close and may
  take the signal; the live engine decides on the close in the same replay step in which the
  router records the fill, so the position still counts as open and the signal is refused
  (``exposure``). The live system then takes a later signal that the backtest's extra
  position blocks. Every other decision is the same.
* **Exit legs.** The router protects each take-profit tranche with its own stop (``SL1``…
  ``SL3``); the backtest writes one ``stop`` leg for the whole remaining quantity. Fills are
  compared per (reason, price) with the quantities summed.
* **Fees.** The simulator charges a spot buy's commission in the base asset (BTC), so the
  live position sells the bought quantity less that commission; the backtest sells all of it
  and charges the fee in quote at the entry price. Sizing follows equity, so the decisions'
  quantities agree exactly at first and within 0.01 % later, PnL within 0.2 %.
* An exit still open when the replay ends is ``end_of_data`` in the backtest and has no fill
  in the demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.backtest.cli import backtest
from engine.backtest.inputs import load_streams
from engine.backtest.run import Result
from greenlight.core.candlefile import read_candles
from greenlight.core.settings import load_settings

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BTC = REPO / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
NEWS = REPO / "data" / "news" / "us-macro-2019-2021.csv"
CANDLES = 300
TF_MS = 900_000
ENV = {
    # the e2e PLUMBING settings (tests/e2e/test_system.py): starter, costs not weighed,
    # only SHOCK blocking
    "GREENLIGHT_STRATEGY_AGENT": "starter",
    "GREENLIGHT_RISK_MAX_COST_FRACTION_OF_R": "10",
    "GREENLIGHT_VOLATILITY_BLOCK": '["SHOCK"]',
    # the replay on the file's clock, spot only
    "GREENLIGHT_SIM_CLOCK": "historical",
    "GREENLIGHT_SIM_FUTURES_DATA_FILE": "",
    # the backtest fills as the simulator does
    "GREENLIGHT_BACKTEST_INTRABAR": "sim",
    "GREENLIGHT_BACKTEST_SLIPPAGE_BPS": "0",
    "GREENLIGHT_BACKTEST_SLIPPAGE_RANGE_FRACTION": "0",
}
Key = tuple[int, str, str, str, tuple[str, ...]]


def _demo(tmp_path: Path) -> dict[str, Any]:
    report = tmp_path / "demo.json"
    argv = [sys.executable, "-m", "greenlight.cli", "demo", "--candles", str(CANDLES)]
    argv += ["--auto-approve", "--futures", "", "--report", str(report), "--timeout", "300"]
    env = {**os.environ, **ENV}
    proc = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=400, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(report.read_text())
    return out


def _backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    history, warm = s.sim.history_candles, s.market.warmup_candles
    t = read_candles(BTC).open_time
    start, end = int(t[history - warm]), int(t[history + CANDLES])
    streams = load_streams([BTC], "15m", s, start=start, end=end, warmup=warm)
    result, _ = backtest(streams, s, tmp_path / "bt", NEWS, report=False)
    return result


def _key(open_time: int, side: str, entry: Any, stop: Any, targets: list[Any]) -> Key:
    return (open_time, side, str(entry), str(stop), tuple(str(p) for p in targets))


def test_demo_and_backtest_decide_and_fill_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = _demo(tmp_path)
    result = _backtest(tmp_path, monkeypatch)
    live = {
        _key(d["open_time"], d["side"], d["entry"], d["stop"], d["targets"]): d
        for d in demo["decision_list"]
    }
    signal = {leg.decision_id: leg.signal_time for leg in result.legs}
    bt = {
        _key(
            signal[did],
            b.side.value,
            b.entry_price,
            b.stop_price,
            [tp.price for tp in b.take_profits],
        ): did
        for did, b in result.brackets.items()
    }
    assert len(live) >= 5 and demo["decisions_blocked"]["exposure"] > 0
    common = sorted(set(live) & set(bt))
    only_bt, only_live = sorted(set(bt) - set(live)), sorted(set(live) - set(bt))
    assert len(common) >= len(live) - 1, (only_bt, only_live)

    # same-candle re-entry: a backtest-only decision's signal candle is the candle in which
    # the backtest's previous position filled its last exit
    last_exit = {leg.decision_id: leg.exit_time for leg in result.legs}
    order = sorted(bt.values())
    for key in only_bt:
        did = bt[key]
        before = order[order.index(did) - 1]
        assert last_exit[before] == key[0], f"{did} is not a same-candle re-entry"
        # … and the live decisions it displaced fall while it was open in the backtest
        displaced = [k for k in only_live if key[0] < k[0] <= last_exit[did]]
        assert displaced or not only_live
    for key in only_live:
        assert any(k[0] < key[0] <= last_exit[bt[k]] for k in only_bt), key

    # fills: entries at the decision's entry price, exits per (reason, price)
    fills: dict[int, list[dict[str, Any]]] = {}
    for f in demo["fill_list"]:
        fills.setdefault(f["decision_open_time"], []).append(f)
    first_gap = min((k[0] for k in [*only_bt, *only_live]), default=1 << 62)
    compared = 0
    for key in common:
        d, did = live[key], bt[key]
        mine = [g for g in result.legs if g.decision_id == did]
        theirs = fills.get(key[0], [])
        entry = [f for f in theirs if f["leg"] == "E"]
        assert len(entry) == 1 and Decimal(entry[0]["price"]) == Decimal(key[2])
        assert Decimal(entry[0]["price"]) == mine[0].entry_price
        qty_bt, qty_live = result.brackets[did].quantity, Decimal(d["quantity"])
        if key[0] < first_gap and compared < 2:
            assert qty_bt == qty_live, key  # before any fee rounding has compounded
        assert abs(qty_bt - qty_live) <= qty_live * Decimal("0.0001"), key
        if d["state"] != "CLOSED":
            assert [g.exit_reason for g in mine] == ["end_of_data"]
            continue
        exits_live: dict[tuple[str, Decimal], Decimal] = {}
        for f in theirs:
            if f["leg"] != "E":
                reason = "stop" if f["leg"].startswith("SL") else "take_profit"
                k2 = (reason, Decimal(f["price"]))
                exits_live[k2] = exits_live.get(k2, Decimal(0)) + Decimal(f["quantity"])
        exits_bt: dict[tuple[str, Decimal], Decimal] = {}
        for g in mine:
            k2 = (g.exit_reason, g.exit_price)
            exits_bt[k2] = exits_bt.get(k2, Decimal(0)) + g.quantity
        assert set(exits_bt) == set(exits_live), key
        # the live position holds the bought quantity less the commission paid in BTC
        # (sold in whole lots); the backtest sells all of it and charges the fee in quote
        commission, lot = Decimal(entry[0]["commission"]), Decimal("0.00001")
        sold = sum(exits_live.values(), Decimal(0))
        assert qty_live - commission - 3 * lot <= sold <= qty_live - commission, key
        assert sum(exits_bt.values(), Decimal(0)) == qty_bt
        for k2, q in exits_live.items():
            assert abs(exits_bt[k2] - q) <= commission + qty_live * Decimal("0.0001"), (key, k2)
        pnl_bt = sum((g.pnl_quote for g in mine), Decimal(0))
        pnl_live = Decimal(d["pnl"])
        assert abs(pnl_bt - pnl_live) <= abs(pnl_live) * Decimal("0.002"), (key, pnl_bt)
        compared += 1
    assert compared >= 4
    assert np.all(np.diff([k[0] for k in common]) > 0)
