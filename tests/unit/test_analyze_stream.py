"""Settings of the analysis stages, their event contracts, and the live per-stream analysis
(SMC → retest → regime) against the batch stages on real candles, with state persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.analysis_stream import (
    AnalysisParams,
    AnalysisStateError,
    AnalysisStep,
    StreamAnalysis,
)
from engine.events import RegimeEvent
from engine.features import FeatureEngine, FeatureParams, compute_batch
from engine.regime import kernel as RK
from engine.regime.classifier import RegimeParams, run_regime_batch
from engine.retest import kernel as TK
from engine.retest.analyzer import RetestParams, run_retest_batch
from engine.smc.engine import SmcParams, run_smc_batch
from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.settings import Settings, SettingsError, load_settings
from tests.candle_rows import candle_at

ROOT = Path(__file__).resolve().parents[2]
N = 3000


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def test_repository_defaults_map_onto_the_stage_defaults() -> None:
    s = load_settings(ROOT / "settings.toml", env={})
    p = AnalysisParams.from_settings(s)
    assert p.smc == SmcParams()
    assert p.retest == RetestParams()
    assert p.regime == RegimeParams()
    assert s.strategy.agent == "fusion"  # the product's rule is the default


def test_sections_are_typed_and_mapped(tmp_path: Path) -> None:
    text = (
        '[strategy]\nagent = "retest"\n[smc]\nswing_method = "zigzag"\nzigzag_atr_mult = 2.5\n'
        "[retest]\nwait_bars = 12\nrsi_low = 35\n[regime]\nwindow = 300\nshock_pct = 0.9\n"
    )
    s = load_settings(write(tmp_path, text), env={"GREENLIGHT_SMC_SWING_LENGTH": "3"})
    p = AnalysisParams.from_settings(s)
    assert p.smc == SmcParams(swing_length=3, swing_method="zigzag", zigzag_atr_mult=2.5)
    assert p.retest.wait_bars == 12 and p.retest.rsi_lo == 35
    assert p.regime == RegimeParams(window=300, shock_pct=0.9)
    assert s.strategy.agent == "retest"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('[smc]\nswing_method = "fractal"\n', "smc.swing_method"),
        ("[smc]\nzigzag_atr_mult = 0\n", "smc.zigzag_atr_mult"),
        ("[retest]\nrsi_low = 60\nrsi_high = 50\n", "retest"),
        ("[regime]\nmin_periods = 600\nwindow = 500\n", "regime"),
        ("[regime]\nshock_pct = 1.5\n", "regime.shock_pct"),
        ('[strategy]\nagent = "Oracle!"\n', "strategy.agent"),  # not a plugin name
        ("[smc]\nswing_lenght = 4\n", "smc.swing_lenght: unknown key"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(SettingsError, match=path):
        load_settings(write(tmp_path, text), env={})


def test_an_agent_no_plugin_provides_is_refused_at_start(tmp_path: Path) -> None:
    from engine.agents.registry import load_agents

    s = load_settings(write(tmp_path, '[strategy]\nagent = "oracle"\n'), env={})
    with pytest.raises(ValueError, match=r"strategy.agent 'oracle' is not an available agent"):
        load_agents(s, frozenset())


def test_regime_event_round_trips_and_an_unknown_regime_is_refused() -> None:
    event = RegimeEvent(
        venue="sim",
        symbol="BTCUSDT",
        tf="15m",
        open_time=9,
        regime="SHOCK",
        adx=30.0,
        atr_pct=0.97,
        bbw_pct=0.5,
    )
    assert RegimeEvent.model_validate_json(event.model_dump_json(by_alias=True)) == event
    with pytest.raises(ValueError):
        RegimeEvent.model_validate_json('{"schema": "regime.v1", "regime": "PANIC"}')


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz").slice(0, N)


def stream(c: CandleArrays, params: AnalysisParams, restore_at: int) -> list[AnalysisStep]:
    """Run the live analysis candle by candle, persisting and restoring at ``restore_at``."""
    fe = FeatureEngine(FeatureParams())
    live = StreamAnalysis(params)
    out: list[AnalysisStep] = []
    for i in range(len(c)):
        if i == restore_at:
            live = StreamAnalysis.from_bytes(params, live.to_bytes())
        candle = candle_at(c, i, "sim", "BTCUSDT", "15m", 900_000)
        o, h, lo, cl, v = candle.open, candle.high, candle.low, candle.close, candle.volume
        out.append(live.step(candle, fe.update(candle.open_time, o, h, lo, cl, v)))
    return out


@pytest.mark.parametrize("method", ["pivot", "zigzag"])
def test_live_stream_equals_batch_across_a_restore(btc: CandleArrays, method: str) -> None:
    params = AnalysisParams.from_settings(
        Settings.model_validate({"smc": {"swing_method": method}})
    )
    steps = stream(btc, params, restore_at=N // 2)
    f = compute_batch(btc)
    ev, _ = run_smc_batch(btc, params.smc)
    live_rows = np.concatenate([s.smc_rows for s in steps])
    assert np.array_equal(live_rows, ev)
    sig, _ = run_retest_batch(
        ev,
        btc.open,
        btc.high,
        btc.low,
        btc.close,
        f["atr14"],
        f["rsi14"],
        f["macd_hist"],
        params.retest,
    )
    live_sig = [i for i, s in enumerate(steps) if s.signal is not None]
    assert live_sig == np.flatnonzero(sig[:, TK.O_DIR] != 0).tolist() and live_sig
    reg, _ = run_regime_batch(f["adx14"], f["atr14"], btc.close, f["bb_width"], params.regime)
    names = [RK.NAMES[int(x)] for x in reg[:, RK.O_REGIME]]
    assert [s.regime for s in steps] == names


def test_state_from_other_settings_or_damaged_is_refused(btc: CandleArrays) -> None:
    params = AnalysisParams.from_settings(Settings())
    blob = StreamAnalysis(params).to_bytes()
    other = Settings.model_validate({"smc": {"swing_length": 7}})
    with pytest.raises(AnalysisStateError, match=r"\[smc\]"):
        StreamAnalysis.from_bytes(AnalysisParams.from_settings(other), blob)
    zz = Settings.model_validate({"smc": {"zigzag_atr_mult": 2.0}})
    with pytest.raises(AnalysisStateError, match=r"\[smc\]"):
        StreamAnalysis.from_bytes(AnalysisParams.from_settings(zz), blob)
    regime = Settings.model_validate({"regime": {"window": 300}})
    with pytest.raises(AnalysisStateError, match=r"\[regime\]"):
        StreamAnalysis.from_bytes(AnalysisParams.from_settings(regime), blob)
    with pytest.raises(AnalysisStateError, match="truncated"):
        StreamAnalysis.from_bytes(params, blob[:-10])
    with pytest.raises(AnalysisStateError, match="bad header"):
        StreamAnalysis.from_bytes(params, b"nope" + blob[4:])
