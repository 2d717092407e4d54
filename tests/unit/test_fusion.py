"""The fusion rule, path by path: structure (CHOCH → BOS within setup_bars), then a retest of
that BOS or the full indicator confluence, a minimum score, one signal per setup."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from engine.agents.base import BarContext
from engine.agents.fusion import FusionAgent
from engine.events import Candle
from engine.retest import kernel as RK
from engine.smc import layout as L
from greenlight.core.contracts import SignalRaw
from greenlight.core.settings_decision import FusionSettings

TF = 900_000
NAN = float("nan")


def ev(bar: int, typ: int, direction: int, price: float = 0.0) -> list[float]:
    row = [0.0] * L.EV_COLS
    row[L.EV_BAR], row[L.EV_TIME], row[L.EV_TYPE] = bar, bar * TF, typ
    row[L.EV_A], row[L.EV_DIR] = price, direction
    return row


@dataclass
class Bar:
    """One candle's inputs; the defaults confirm nothing (flat indicators)."""

    events: list[list[float]] = field(default_factory=list)
    close: float = 100.0
    atr: float = 2.0
    rsi: float = 50.0
    hist: float = 0.0
    ema: float = 100.0
    retest_bos: float | None = None  # the BOS time a confirmed retest refers to
    retest_dir: float = 1.0


def confluence(up: bool = True, close: float = 105.0) -> Bar:
    """Every indicator agrees with the trade (after a bar of ``neutral()``)."""
    s = 1 if up else -1
    return Bar(close=close, rsi=50.0 + 3 * s, hist=1.0 * s, ema=100.0 + 0.5 * s)


def neutral(close: float = 104.0, up: bool = True) -> Bar:
    """RSI inside the bounce band, histogram and EMA flat: the bar before a confluence."""
    return Bar(close=close, rsi=47.0 if up else 53.0, hist=0.0, ema=100.0)


def run(bars: list[Bar], shorts: bool = False, **cfg: float) -> list[SignalRaw]:
    """Feed the bars to the agent, as the decision stage does; return its signals."""
    agent = FusionAgent(
        FusionSettings.model_validate(cfg), (1.5, 2.0, 3.0), "ema200", "atr14", "rsi14"
    )
    ctx = BarContext("sim", "BTCUSDT", "15m", TF, "usdm" if shorts else "spot", shorts)
    state = agent.new_state()
    signals: list[SignalRaw] = []
    for i, b in enumerate(bars):
        retest = np.zeros(RK.O_COLS)
        retest[RK.O_BOS_TIME] = NAN if b.retest_bos is None else b.retest_bos
        retest[RK.O_DIR] = 0.0 if b.retest_bos is None else b.retest_dir
        events = np.array(b.events, dtype=np.float64).reshape(-1, L.EV_COLS)
        ctx.update(events, retest, "TREND", 0.5, 0.5)
        feats = {"ema200": b.ema, "atr14": b.atr, "rsi14": b.rsi, "macd_hist": b.hist}
        signals += agent.on_bar(ctx, candle(i, b.close), feats, state)
    return signals


def candle(i: int, close: float) -> Candle:
    """The ``i``-th 15m candle, flat at ``close``."""
    px = {"open": close, "high": close, "low": close, "close": close}
    return Candle(
        venue="sim",
        symbol="BTCUSDT",
        tf="15m",
        open_time=i * TF,
        close_time=(i + 1) * TF - 1,
        volume=1.0,
        **px,
    )


def structure(up: bool = True, gap: int = 3) -> list[Bar]:
    """A swing on the losing side at 95 (105 for shorts), a CHOCH, then a BOS ``gap`` bars
    later (bar index 1 + gap)."""
    d = 1 if up else -1
    swing = ev(0, L.T_SWING, -d, 95.0 if up else 105.0)
    bars = [Bar(events=[swing, ev(0, L.T_CHOCH, d)])]
    bars += [Bar() for _ in range(gap)]
    bars.append(Bar(events=[ev(gap + 1, L.T_BOS, d)]))
    return bars


BOS_TIME = 4 * TF  # the BOS of ``structure()`` with gap 3


def names(sig: SignalRaw) -> set[str]:
    """The confirmations the signal names."""
    return {n for n, on in sig.features.items() if on}


def test_structure_and_retest_confirm() -> None:
    [sig] = run([*structure(), Bar(close=103.0, retest_bos=BOS_TIME)])
    assert sig.side_hint == "long" and sig.entry_hint == 103.0
    assert sig.sl_hint == pytest.approx(95.0 - 0.25 * 2.0)
    assert names(sig) == {"choch_bos", "retest"} and sig.score == pytest.approx(0.7)
    assert sig.setup == BOS_TIME and sig.why.startswith("CHOCH 01-01 00:00 → BOS 01-01 01:00")


def test_structure_and_full_indicator_confluence_confirm() -> None:
    [sig] = run([*structure(), neutral(), confluence()])
    assert names(sig) == {"choch_bos", "ema200_side", "macd_uptick", "rsi_bounce"}
    assert sig.score == pytest.approx(0.7)


@pytest.mark.parametrize(
    "broken",
    [
        {"ema": 99.0},  # price below EMA-200
        {"ema": 99.9, "close": 99.0},  # below it and it falls
        {"hist": -1.0},  # histogram ticks down
        {"rsi": 46.0},  # RSI falls
    ],
)
def test_partial_confluence_does_not_confirm(broken: dict[str, float]) -> None:
    bar = confluence()
    for k, v in broken.items():
        setattr(bar, k, v)
    assert run([*structure(), neutral(), bar]) == []


def test_rsi_must_bounce_from_inside_the_band() -> None:
    assert run([*structure(), neutral(), confluence()], rsi_low=48.0) == []  # was 47


def test_bos_without_choch_or_too_late_opens_nothing() -> None:
    no_choch = structure()
    no_choch[0].events = [ev(0, L.T_SWING, -1, 95.0)]
    assert run([*no_choch, Bar(retest_bos=BOS_TIME)]) == []
    late = structure(gap=30)
    assert run([*late, Bar(retest_bos=31 * TF)]) == []
    assert len(run([*late, Bar(retest_bos=31 * TF)], setup_bars=31)) == 1


def test_the_bos_bar_itself_and_expired_setups_do_not_confirm() -> None:
    bars = structure()
    bars[-1].retest_bos = BOS_TIME  # same bar as the BOS
    bars[-1].close = 103.0
    assert run(bars) == []
    waiting = [*structure(), *[Bar() for _ in range(12)], Bar(retest_bos=BOS_TIME)]
    assert run(waiting) == []
    assert len(run(waiting, wait_bars=13)) == 1


def test_a_close_through_the_swing_or_a_choch_the_other_way_voids_the_setup() -> None:
    assert run([*structure(), Bar(close=94.0), Bar(retest_bos=BOS_TIME)]) == []
    flip = Bar(events=[ev(5, L.T_CHOCH, -1)])
    assert run([*structure(), flip, Bar(retest_bos=BOS_TIME)]) == []


def test_a_retest_of_another_bos_does_not_count() -> None:
    assert run([*structure(), Bar(retest_bos=BOS_TIME - TF)]) == []


def test_one_signal_per_setup() -> None:
    bars = [*structure(), Bar(retest_bos=BOS_TIME), neutral(), confluence()]
    assert len(run(bars)) == 1
    again = [*bars, Bar(events=[ev(8, L.T_BOS, 1)]), neutral(), confluence()]
    sigs = run(again)  # a new BOS within setup_bars of the CHOCH is a new setup
    assert [s.setup for s in sigs] == [BOS_TIME, 8 * TF]


def test_the_minimum_score() -> None:
    bars = [*structure(), neutral(), confluence()]
    assert run(bars, min_score=0.75) == []
    bars[-1].retest_bos = BOS_TIME
    [sig] = run(bars, min_score=0.75)
    assert sig.score == pytest.approx(1.0)


def test_shorts_mirror_and_only_where_the_stream_allows_them() -> None:
    bars = [*structure(up=False), neutral(96.0, up=False), confluence(up=False, close=95.0)]
    assert run(bars) == []
    [sig] = run(bars, shorts=True)
    assert sig.side_hint == "short" and sig.sl_hint == pytest.approx(105.0 + 0.5)
    assert names(sig) == {"choch_bos", "ema200_side", "macd_uptick", "rsi_bounce"}


def test_the_agent_names_every_confirmation_and_carries_setup_and_ttl() -> None:
    agent = FusionAgent(FusionSettings(ttl_bars=3), (1.5, 2.0), "ema200", "atr14", "rsi14")
    ctx = BarContext("sim", "BTCUSDT", "15m", TF, "spot", False)
    state = agent.new_state()
    out = []
    for i, b in enumerate([*structure(), neutral(), confluence()]):
        retest = np.zeros(RK.O_COLS)
        ctx.update(np.array(b.events).reshape(-1, L.EV_COLS), retest, "TREND", 0.5, 0.5)
        feats = {"ema200": b.ema, "atr14": b.atr, "rsi14": b.rsi, "macd_hist": b.hist}
        out += agent.on_bar(ctx, candle(i, b.close), feats, state)
    [s] = out
    assert s.agent == "fusion.v1" and s.side_hint == "long" and s.ttl_bars == 3
    assert s.setup == BOS_TIME and s.tpR == (1.5, 2.0)
    assert s.features == {
        "choch_bos": True,
        "retest": False,
        "ema200_side": True,
        "macd_uptick": True,
        "rsi_bounce": True,
    }
    assert "CHOCH" in s.why and "BOS" in s.why and "RSI 53 ↑" in s.why
