"""The analysis state saved as a base and a patch: a patch rebuilds exactly the state it was
made from, only on its own base, and a stream's saved rows always rebuild its state."""

from __future__ import annotations

import random

import pytest

from engine.analysis_stream import AnalysisParams, AnalysisStateError, StreamAnalysis
from engine.features import FeatureEngine, FeatureParams
from engine.pipeline import StreamProcessor
from engine.state_patch import apply_patch, base_crc, make_patch, patch_limit
from greenlight.core.candlefile import read_candles
from greenlight.core.settings import Settings
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.symbol_rules import BTCUSDT as RULES


def test_a_patch_rebuilds_the_new_state_byte_for_byte() -> None:
    rng = random.Random(7)
    base = bytes(rng.randrange(256) for _ in range(5000))
    for changes in (0, 1, 3, 40, 2000):
        new = bytearray(base)
        for _ in range(changes):
            new[rng.randrange(len(new))] = rng.randrange(256)
        new[-1] = (base[-1] + 1) % 256 if changes else base[-1]  # the last byte too
        patch = make_patch(base, base_crc(base), bytes(new))
        assert patch is not None
        assert apply_patch(base, patch) == bytes(new)
    unchanged = make_patch(base, base_crc(base), base)
    assert unchanged is not None and apply_patch(base, unchanged) == base


def test_a_patch_applies_to_its_own_base_only() -> None:
    base, other = b"\x01" * 100, b"\x02" * 100
    new = b"\x01" * 50 + b"\x09" + b"\x01" * 49
    patch = make_patch(base, base_crc(base), new)
    assert patch is not None
    with pytest.raises(AnalysisStateError, match="another base"):
        apply_patch(other, patch)
    with pytest.raises(AnalysisStateError, match="another base"):
        apply_patch(base + b"\x01", patch)
    with pytest.raises(AnalysisStateError):
        apply_patch(base, patch[:-1])
    with pytest.raises(AnalysisStateError, match="bad header"):
        apply_patch(base, b"nope" + patch[4:])
    assert make_patch(base, base_crc(base), new + b"\x00") is None  # a new layout: a new base


def test_limits_are_fixed_per_stream_and_spread_across_streams() -> None:
    limits = [patch_limit("sim", f"S{i:03d}USDT", "15m") for i in range(256)]
    assert limits == [patch_limit("sim", f"S{i:03d}USDT", "15m") for i in range(256)]
    assert all(1024 <= v < 2048 for v in limits)
    assert len(set(limits)) > 200


def test_each_candle_saves_what_rebuilds_the_stream_state() -> None:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    settings = Settings()
    proc = StreamProcessor(settings, "sim", RULES, "15m")
    # the same stages stepped beside the stream: the state its saved rows must rebuild
    features = FeatureEngine(FeatureParams.from_settings(settings.strategy))
    analysis = StreamAnalysis(AnalysisParams.from_settings(settings))
    limit = patch_limit("sim", RULES.symbol, "15m")
    base: bytes | None = None
    saved = {"base": 0, "patch": 0}
    for c in candle_rows(data, "sim", "BTCUSDT", "15m", 900_000, 0, 1500):
        step = proc.advance(c, 0.0, live=False)
        analysis.step(c, features.update(c.open_time, c.open, c.high, c.low, c.close, c.volume))
        assert step is not None
        if step.analysis_state is not None:
            assert step.analysis_patch is None
            base, state = step.analysis_state, step.analysis_state
            saved["base"] += len(step.analysis_state)
        else:
            assert base is not None and step.analysis_patch is not None
            assert len(step.analysis_patch) <= limit
            state = apply_patch(base, step.analysis_patch)
            saved["patch"] += len(step.analysis_patch)
        assert state == analysis.to_bytes()
    # what the candles wrote is a fraction of writing the whole state every time
    assert saved["base"] + saved["patch"] < 1500 * len(analysis.to_bytes()) / 4
