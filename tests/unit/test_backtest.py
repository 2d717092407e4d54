"""``greenlight backtest``: fill rules, one strategy code path, reproducible files, golden
figures on the bundled 2019–2020 BTCUSDT file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.agents.base import BarContext
from engine.agents.registry import load_agents
from engine.backtest.cli import backtest, run_backtest
from engine.backtest.fills import Plan, resolve
from engine.backtest.inputs import load_streams
from engine.backtest.output import iso, iso_many
from engine.backtest.signals import agent_signals
from engine.decisions_batch import run_stages
from engine.features import FeatureParams
from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.settings import Settings
from sim.replay.resample import resample

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
XRP = ROOT / "data" / "XRPUSDT-perp-5m-futures.csv"
GOLDEN = ROOT / "tests" / "golden" / "backtest_btcusdt_2019_2020.json"
D = Decimal


def _candles(rows: list[tuple[float, float, float, float]]) -> CandleArrays:
    a = np.array(rows, dtype=np.float64)
    t = np.arange(len(rows), dtype=np.int64) * 900_000
    return CandleArrays(t, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.ones(len(rows)), True)


LONG = Plan(1, D(3), D(95), ((D(105), D(1)), (D(110), D(2))))


def test_ohlc_path_nearer_extreme_first() -> None:
    # entry candle, then a candle whose high (104→?) is nearer the open than its low
    c = _candles([(100, 100, 100, 100), (101, 106, 94, 100)])
    exits = resolve(LONG, c, 0, "ohlc")
    # open 101: high 106 is 5 away, low 94 is 7 away → TP1 at 105, then the stop for the rest
    assert [(e.reason, e.price, e.quantity) for e in exits] == [
        ("take_profit", D(105), D(1)),
        ("stop", D(95), D(2)),
    ]


def test_stop_first_when_the_path_cannot_tell() -> None:
    c = _candles([(100, 100, 100, 100), (100, 106, 94, 100)])  # equidistant extremes
    exits = resolve(LONG, c, 0, "ohlc")
    assert [(e.reason, e.quantity) for e in exits] == [("stop", D(3))]


def test_gaps_fill_at_the_open_and_sim_path_at_the_level() -> None:
    c = _candles([(100, 100, 100, 100), (90, 91, 89, 90)])
    assert [(e.reason, e.price) for e in resolve(LONG, c, 0, "ohlc")] == [("stop", D("90.0"))]
    assert [(e.reason, e.price) for e in resolve(LONG, c, 0, "sim")] == [("stop", D(95))]


def test_sim_path_bullish_goes_low_first_and_end_of_data() -> None:
    c = _candles([(100, 100, 100, 100), (100, 106, 96, 104), (104, 104, 103, 103.5)])
    exits = resolve(LONG, c, 0, "sim")  # O→L(96, no stop)→H(106: TP1)→C; then data ends
    assert [(e.reason, e.quantity) for e in exits] == [
        ("take_profit", D(1)),
        ("end_of_data", D(2)),
    ]
    assert resolve(LONG, c, 0, "ohlc", max_hold=1)[-1].reason == "ttl"


def test_liquidation_when_nearer_than_the_stop() -> None:
    plan = Plan(-1, D(1), D(120), ((D(90), D(1)),), liquidation=D(110))
    c = _candles([(100, 100, 100, 100), (101, 112, 100, 111)])
    assert [e.reason for e in resolve(plan, c, 0, "ohlc")] == ["liquidation"]


@pytest.mark.parametrize("agent", ["fusion", "retest"])
def test_compiled_agent_path_equals_bar_by_bar(agent: str) -> None:
    """One strategy code: the compiled loop yields the signals ``on_bar`` yields."""
    settings = Settings().model_copy(
        update={"strategy": Settings().strategy.model_copy(update={"agent": agent})}
    )
    c = load_streams([BTC], "15m", settings, end=1_577_836_800_000 - 300 * 86_400_000)[0].candles
    st = run_stages(c, settings)
    agents = load_agents(settings, frozenset(FeatureParams().names()))

    def run(compiled: bool) -> list[tuple[int, str]]:
        ctx = BarContext("backtest", "BTCUSDT", "15m", 900_000, "spot", False)
        found = agent_signals(c, st, agents, agent, ctx, compiled)
        return [(i, s.model_dump_json()) for i, s in found]

    fast = run(True)
    assert fast and fast == run(False)


def _run(out: Path, *extra: str) -> int:
    argv = [str(BTC), "--tf", "15m", "--out", str(out), "--reproducible", *extra]
    return run_backtest(argv, Settings())


def test_iso_many_is_iso_of_each() -> None:
    t = np.array([0, 999, 1000, 1_546_300_799_999, 1_546_301_700_000, 4_102_444_799_500])
    assert iso_many(t) == [iso(int(v)) for v in t]
    assert iso_many(t)[3] == "2018-12-31T23:59:59Z"


def test_same_inputs_byte_identical_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(a, "--to", "2019-07-01") == 0
    assert _run(b, "--to", "2019-07-01") == 0
    for name in ("trades.csv", "summary.json", "equity.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    head = (a / "trades.csv").read_text().splitlines()[0]
    assert head == (
        "decision_id,symbol,market,side,agent,signal_time,entry_time,entry_price,exit_time,"
        "exit_price,quantity,fees_quote,funding_quote,pnl_quote,r_multiple,exit_reason"
    )


def test_spot_and_perpetual_share_one_account(tmp_path: Path) -> None:
    s = Settings()
    funding = [ROOT / "data" / "XRPUSDT-perp-8h-funding_rate.csv"]
    streams = load_streams([BTC], "15m", s, end=1_561_939_200_000)
    streams += load_streams([XRP], "5m", s, funding=funding)
    result, figures = backtest(streams, s, tmp_path)
    markets = {leg.market for leg in result.legs}
    assert figures["candles"] == sum(len(st.candles) for st in streams)
    assert markets == {"spot", "usdm"}
    assert any(leg.side == "short" for leg in result.legs if leg.market == "usdm")
    assert all(leg.funding_quote == 0 for leg in result.legs if leg.market == "spot")


def test_a_finer_file_is_resampled_as_the_simulator_serves_it() -> None:
    s = Settings()
    [five] = load_streams([XRP], "5m", s)
    [st] = load_streams([XRP], "15m", s)
    sim = resample(read_candles(XRP), 900_000)
    assert len(st.candles) == len(sim) == len(five.candles) // 3
    for col in ("open_time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(st.candles, col), getattr(sim, col)), col
    assert st.sub is None  # no sub-timeframe configured
    sub5 = Settings.model_validate({"market": {"sub_timeframe": "5m"}})
    [micro] = load_streams([XRP], "15m", sub5)
    assert micro.sub is not None and len(micro.sub) == len(five.candles)  # as live: 15m + 5m
    assert micro.micro is not None


def test_a_coarser_file_is_refused_with_its_interval() -> None:
    hourly = ROOT / "data" / "XRPUSDT-perp-1h-futures.csv"
    with pytest.raises(ValueError, match="XRPUSDT-perp-1h-futures.csv holds 1h candles: --tf 15m"):
        load_streams([hourly], "15m", Settings())


def test_golden_figures(tmp_path: Path) -> None:
    """The reviewed figures of the default strategy on the bundled file; they change only
    with an explained commit (regenerate: see the golden file's ``how``)."""
    assert _run(tmp_path) == 0
    got = json.loads((tmp_path / "summary.json").read_text())
    want = json.loads(GOLDEN.read_text())["summary"]
    assert {k: got[k] for k in want} == want
