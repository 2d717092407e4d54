"""The compatibility mode reproduces smartmoneyconcepts 0.0.27 exactly on its own EURUSD test
vectors and on the generated BTCUSDT references (both swing lengths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.smc.compat import COMPAT_COLUMNS, FLOAT32_COLUMNS, SmcCompat, smc_compat
from greenlight.core.candlefile import CandleArrays, read_candles

ROOT = Path(__file__).resolve().parents[2]
EURUSD = ROOT / "tests/data/smc_eurusd_15m"
BTC_REF = ROOT / "tests/data/smc_btcusdt_15m"
BTC = ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz"


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return read_candles(BTC)


@pytest.fixture(scope="module")
def eurusd() -> CandleArrays:
    d = pd.read_csv(EURUSD / "EURUSD_15M.csv.gz")
    o, h, lo, c, v = (d[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume"))
    return CandleArrays(np.arange(len(d), dtype=np.int64), o, h, lo, c, v, True)


def mismatches(ours: SmcCompat, ref: pd.DataFrame, mapping: dict[str, str]) -> dict[str, int]:
    """Count differing cells per column (float32 columns compared as float32)."""
    out = {}
    for col, ref_col in mapping.items():
        a = ours[col]
        b = ref[ref_col].to_numpy(np.float64)
        if col in FLOAT32_COLUMNS:
            a, b = a.astype(np.float32), b.astype(np.float32)
        assert a.shape == b.shape
        out[col] = int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())
    return out


@pytest.mark.parametrize("length", [5, 10])
def test_btcusdt_reference_matches_every_cell(btc: CandleArrays, length: int) -> None:
    ref = pd.read_csv(BTC_REF / f"smc_swing_length_{length}.csv.gz")
    assert (ref["open_time_ms_utc"].to_numpy() == btc.open_time).all()
    ours = smc_compat(btc, length)
    assert mismatches(ours, ref, {c: c for c in COMPAT_COLUMNS}) == dict.fromkeys(COMPAT_COLUMNS, 0)
    # the references are not trivially empty
    assert int(np.sum(~np.isnan(ours["bos_BOS"]))) == {5: 2140, 10: 1058}[length]
    assert int(np.sum(~np.isnan(ours["ob_OB"]))) == {5: 179, 10: 123}[length]


@pytest.mark.parametrize(
    ("file", "prefix"),
    [
        ("swing_highs_lows", "swing_"),
        ("bos_choch", "bos_"),
        ("fvg", "fvg_"),
        ("ob", "ob_"),
    ],
)
def test_eurusd_upstream_vectors(eurusd: CandleArrays, file: str, prefix: str) -> None:
    ref = pd.read_csv(EURUSD / f"{file}_result_data.csv.gz")
    ours = smc_compat(eurusd, 5)
    mapping = {prefix + c: c for c in ref.columns}
    assert mismatches(ours, ref, mapping) == dict.fromkeys(mapping, 0)


def test_eurusd_joined_consecutive_fvg(eurusd: CandleArrays) -> None:
    ref = pd.read_csv(EURUSD / "fvg_consecutive_result_data.csv.gz")
    ours = smc_compat(eurusd, 5, join_consecutive_fvg=True)
    mapping = {"fvg_" + c: c for c in ref.columns}
    assert mismatches(ours, ref, mapping) == dict.fromkeys(mapping, 0)


def test_live_library_on_a_slice(btc: CandleArrays) -> None:
    """Against the library itself on a fresh slice (not covered by the stored files)."""
    smc = pytest.importorskip("smartmoneyconcepts").smc
    part = btc.slice(30_000, 32_000)
    df = pd.DataFrame(
        {
            "open": part.open,
            "high": part.high,
            "low": part.low,
            "close": part.close,
            "volume": part.volume,
        }
    )
    swings = smc.swing_highs_lows(df, 7)
    frames = {
        "swing_": swings,
        "bos_": smc.bos_choch(df, swings),
        "fvg_": smc.fvg(df),
        "ob_": smc.ob(df, swings),
    }
    ours = smc_compat(part, 7)
    for prefix, frame in frames.items():
        mapping = {prefix + c: c for c in frame.columns}
        assert mismatches(ours, frame, mapping) == dict.fromkeys(mapping, 0)


def test_rejects_bad_swing_length(btc: CandleArrays) -> None:
    with pytest.raises(ValueError, match="swing_length"):
        smc_compat(btc.slice(0, 100), 0)
