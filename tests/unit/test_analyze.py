"""``greenlight analyze`` end to end on real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.analyze import INDICATOR_COLUMNS, run_analyze
from engine.decisions_batch import COLUMNS
from engine.features import compute_batch
from engine.smc.compat import COMPAT_COLUMNS, FLOAT32_COLUMNS
from greenlight.core.candlefile import read_candles

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("analyze")
    assert run_analyze([str(BTC), "--tf", "15m", "--out", str(out), "--smc-compat"]) == 0
    return out


def test_smc_compat_csv_equals_library_reference(full_run: Path) -> None:
    ours = pd.read_csv(full_run / "smc_compat.csv")
    ref = pd.read_csv(ROOT / "tests/data/smc_btcusdt_15m/smc_swing_length_5.csv.gz")
    assert list(ours.columns) == ["open_time_ms_utc", *COMPAT_COLUMNS]
    for col in ours.columns:
        a, b = ours[col].to_numpy(np.float64), ref[col].to_numpy(np.float64)
        if col in FLOAT32_COLUMNS:
            a, b = a.astype(np.float32), b.astype(np.float32)
        assert np.array_equal(a, b, equal_nan=True), col


def test_indicators_csv_round_trips_features(full_run: Path) -> None:
    ind = pd.read_csv(full_run / "indicators.csv")
    assert list(ind.columns) == ["open_time_ms_utc", *INDICATOR_COLUMNS]
    c = read_candles(BTC)
    assert np.array_equal(ind["open_time_ms_utc"].to_numpy(), c.open_time)
    feats = compute_batch(c)
    for col in INDICATOR_COLUMNS:
        assert np.array_equal(ind[col].to_numpy(np.float64), feats[col], equal_nan=True), col


def test_event_files_and_gaps(full_run: Path) -> None:
    gaps = pd.read_csv(full_run / "gaps.csv")
    assert len(gaps) == 14 and gaps["missing_candles"].sum() == 200
    swings = pd.read_csv(full_run / "swings.csv", keep_default_na=False)
    assert (swings["known_time_ms_utc"] > swings["pivot_time_ms_utc"]).all()
    assert set(swings["label"]) == {"", "HH", "LH", "HL", "LL"}
    ev = pd.read_csv(full_run / "smc_events.csv")
    assert set(ev["kind"]) == {"BOS_UP", "BOS_DN", "CHOCH_UP", "CHOCH_DN"}
    zones = pd.read_csv(full_run / "zones.csv", keep_default_na=False)
    assert set(zones["kind"]) == {"FVG", "OB"} and (zones["top"] >= zones["bottom"]).all()
    sig = pd.read_csv(full_run / "signals.csv")
    assert len(sig) > 50 and set(sig["side_hint"]) == {"long", "short"}
    assert ((sig["score"] >= 0) & (sig["score"] <= 1)).all()
    reg = pd.read_csv(full_run / "regimes.csv")
    assert set(reg["regime"]) == {"TREND", "RANGE", "SHOCK"}


def test_file_without_volume_and_iso_times(tmp_path: Path) -> None:
    c = read_candles(BTC).slice(0, 400)
    iso = pd.to_datetime(c.open_time, unit="ms", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    src = tmp_path / "ethusdt_15m.csv"
    pd.DataFrame(
        {"datetime": iso, "open": c.open, "high": c.high, "low": c.low, "close": c.close}
    ).to_csv(src, index=False)
    out = tmp_path / "out"
    assert run_analyze([str(src), "--tf", "15m", "--out", str(out)]) == 0
    ind = pd.read_csv(out / "indicators.csv")
    assert len(ind) == 400 and ind["vwap"].isna().all() and ind["vwma20"].isna().all()
    assert ind["ema200"].notna().sum() == 201
    assert np.array_equal(ind["open_time_ms_utc"].to_numpy(), c.open_time)


def test_raw_binance_dump_without_header(tmp_path: Path) -> None:
    out = tmp_path / "out"
    src = ROOT / "tests/data/adabtc_1m/ADABTC-1m-2021-11-27.csv"
    assert run_analyze([str(src), "--tf", "1m", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "indicators.csv")) == 10


def test_bad_row_stops_the_run_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with gzip.open(BTC, "rt") as fh:
        lines = [next(fh) for _ in range(30)]
    parts = lines[5].rstrip("\n").split(",")
    parts[3], parts[4] = parts[4], parts[3]  # swap high and low
    lines[5] = ",".join(parts) + "\n"
    src = tmp_path / "bad.csv"
    src.write_text("".join(lines))
    out = tmp_path / "out"
    assert run_analyze([str(src), "--tf", "15m", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: line 6" in err and "high below low" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tf", "7m"], "unknown timeframe"),
        (["--tf", "15m", "--swing-length", "0"], "swing"),
        (["--tf", "1m", "--swing-method", "zigzag", "--zigzag-mult", "0"], "zigzag_atr_mult"),
    ],
)
def test_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    src = ROOT / "tests/data/adabtc_1m/ADABTC-1m-2021-11-27.csv"
    assert run_analyze([str(src), "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_zigzag_swings_file(tmp_path: Path, full_run: Path) -> None:
    out = tmp_path / "zz"
    args = [str(BTC), "--tf", "15m", "--out", str(out), "--swing-method", "zigzag"]
    assert run_analyze([*args, "--zigzag-mult", "4"]) == 0
    sw = pd.read_csv(out / "swings.csv")
    assert len(sw) > 500
    assert (sw["known_time_ms_utc"] > sw["pivot_time_ms_utc"]).all()
    kinds = sw["kind"].to_numpy()
    assert (kinds[1:] != kinds[:-1]).all()  # ZigZag swings alternate high / low
    assert len(sw) < len(pd.read_csv(full_run / "swings.csv")) / 2  # far fewer than pivots


def test_decisions_csv_through_the_guards_equals_the_golden_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calendar = ROOT / "data/news/us-macro-2019-2021.csv"
    out = tmp_path / "out"
    assert run_analyze([str(BTC), "--tf", "15m", "--out", str(out), "--news", str(calendar)]) == 0
    golden = ROOT / "tests/data/golden/fusion_btcusdt_15m_decisions.csv"
    assert (out / "decisions.csv").read_text() == golden.read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("start,end,severity,scope,title\n2019-01-01T00:00:00Z,x,HIGH,ALL,t\n")
    assert (
        run_analyze([str(BTC), "--tf", "15m", "--out", str(tmp_path / "o2"), "--news", str(bad)])
        == 2
    )
    assert "bad.csv:2: " in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_decisions_csv_without_a_calendar(full_run: Path) -> None:
    dec = pd.read_csv(full_run / "decisions.csv", keep_default_na=False)
    assert list(dec.columns) == list(COLUMNS)
    assert set(dec["agent"]) == {"fusion.v1"} and "news" not in set(dec["blocked_by"])
