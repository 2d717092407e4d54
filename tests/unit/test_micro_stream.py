"""The sub-timeframe stream on real XRPUSDT 5m candles: breaks assigned to the parent candle
as the batch ``micro_bos_flags`` does, exact resume from bytes, bad input rejected without
changing anything, and the ``market.sub_timeframe`` setting validated."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis_stream import AnalysisStateError
from engine.events import Candle
from engine.micro_stream import MicroStream, micro_smc_params
from engine.retest.micro import micro_bos_flags
from engine.smc.engine import BadCandleError
from greenlight.core.candlefile import read_candles
from greenlight.core.settings import Settings, SettingsError, SmcSettings, load_settings
from tests.candle_rows import candle_at
from tests.conftest import DATA

SUB = read_candles(DATA / "XRPUSDT-perp-5m-futures.csv").slice(0, 1500)
PARAMS = micro_smc_params(Settings())
TF = 900_000


def candle(i: int) -> Candle:
    return candle_at(SUB, i, "sim-usdm", "XRPUSDT", "5m", 300_000)


def test_streamed_flags_equal_batch_and_survive_restarts() -> None:
    parents = SUB.open_time[:: TF // 300_000]
    up, dn = micro_bos_flags(parents, TF, SUB, PARAMS)
    ms = MicroStream(PARAMS, TF)
    got = []
    for j, p in enumerate(parents.tolist()):
        for i in range(3 * j, 3 * j + 3):
            ms.update(candle(i))
            if i % 7 == 0:  # a restart: everything needed is in the bytes
                ms = MicroStream.from_bytes(PARAMS, TF, ms.to_bytes())
        got.append(ms.take(p))
    assert got == list(zip(up.tolist(), dn.tolist(), strict=True))
    assert 10 <= up.sum() < len(parents) and 10 <= dn.sum() < len(parents)
    assert ms.pending == [] and ms.last_close_time == candle(len(SUB) - 1).close_time


def test_pending_breaks_wait_for_their_parent_and_older_ones_are_dropped() -> None:
    ms = MicroStream(PARAMS, TF)
    for i in range(300):
        ms.update(candle(i))
    pending = ms.pending
    assert len(pending) >= 5 and all(d in (1, -1) for _, d in pending)
    t, d = pending[-1]
    parent = t - t % TF
    inside = {e for p, e in pending if parent <= p < parent + TF}
    assert d in inside
    restored = MicroStream.from_bytes(PARAMS, TF, ms.to_bytes())
    assert restored.pending == pending
    restored.discard_through(parent - TF)  # the parent before it was processed already
    assert restored.pending == [(p, e) for p, e in pending if p >= parent]
    assert restored.take(parent) == (1 in inside, -1 in inside)
    assert restored.pending == []
    assert ms.take(parent + TF) == (False, False)  # a later parent consumes it unseen
    assert ms.pending == []


def test_bad_candle_is_rejected_and_changes_nothing() -> None:
    ms = MicroStream(PARAMS, TF)
    for i in range(50):
        ms.update(candle(i))
    before = ms.to_bytes()
    c = candle(50)
    with pytest.raises(BadCandleError, match=str(c.open_time)):
        ms.update(c.model_copy(update={"high": c.low / 2}))
    with pytest.raises(BadCandleError, match="duplicate or out of order"):
        ms.update(candle(49))
    assert ms.to_bytes() == before


def test_state_from_other_settings_or_damaged_is_refused() -> None:
    ms = MicroStream(PARAMS, TF)
    for i in range(20):
        ms.update(candle(i))
    blob = ms.to_bytes()
    other = micro_smc_params(Settings(smc=SmcSettings(micro_swing_length=2)))
    with pytest.raises(AnalysisStateError, match="other \\[smc\\] settings"):
        MicroStream.from_bytes(other, TF, blob)
    with pytest.raises(AnalysisStateError, match="truncated"):
        MicroStream.from_bytes(PARAMS, TF, blob[:-3])
    with pytest.raises(AnalysisStateError, match="bad header"):
        MicroStream.from_bytes(PARAMS, TF, b"GLAN" + blob[4:])
    assert np.array_equal(
        MicroStream.from_bytes(PARAMS, TF, blob).smc.state.ring, ms.smc.state.ring
    )


@pytest.mark.parametrize(
    ("tf", "sub", "error"),
    [
        ("15m", "2m", "is not one of"),
        ("15m", "15m", "must be finer"),
        ("15m", "1h", "must be finer"),
        ("1h", "8h", "must be finer"),
        ("30m", "1h", "must be finer"),
        ("4h", "3m", None),
        ("1h", "5m", None),
        ("15m", "", None),
    ],
)
def test_sub_timeframe_setting_is_validated(tf: str, sub: str, error: str | None) -> None:
    env = {"GREENLIGHT_MARKET_TIMEFRAME": tf, "GREENLIGHT_MARKET_SUB_TIMEFRAME": sub}
    if error is None:
        assert load_settings(env=env).market.sub_timeframe == sub
        return
    with pytest.raises(SettingsError, match=f"market.*sub_timeframe.*{error}"):
        load_settings(env=env)


def test_sub_timeframe_must_divide_the_timeframe() -> None:
    env = {"GREENLIGHT_MARKET_TIMEFRAME": "1h", "GREENLIGHT_MARKET_SUB_TIMEFRAME": "8h"}
    with pytest.raises(SettingsError, match="finer than timeframe '1h'"):
        load_settings(env=env)
    env = {"GREENLIGHT_MARKET_TIMEFRAME": "2h", "GREENLIGHT_MARKET_SUB_TIMEFRAME": "3m"}
    assert load_settings(env=env).market.sub_timeframe == "3m"
    env = {"GREENLIGHT_MARKET_TIMEFRAME": "1d", "GREENLIGHT_MARKET_SUB_TIMEFRAME": "8h"}
    assert load_settings(env=env).market.sub_timeframe == "8h"
    env = {"GREENLIGHT_MARKET_TIMEFRAME": "12h", "GREENLIGHT_MARKET_SUB_TIMEFRAME": "8h"}
    with pytest.raises(SettingsError, match="divide it"):
        load_settings(env=env)
