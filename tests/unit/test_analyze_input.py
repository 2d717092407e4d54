"""``greenlight analyze`` on awkward input: help, interval detection, off-grid times, a BOM,
a truncated gzip."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from engine.analyze import run_analyze
from greenlight.cli import main
from greenlight.core.candlefile import CandleFileError, detect_interval_ms, read_candles

ROOT = Path(__file__).resolve().parents[2]
ADA = ROOT / "tests/data/adabtc_1m/ADABTC-1m-2021-11-27.csv"
HEADER = "open_time,open,high,low,close,volume\n"


def _rows(times: list[int]) -> str:
    return "".join(f"{t},10,11,9,10.5,1\n" for t in times)


def test_help_works_through_the_main_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "-h"])
    assert stop.value.code == 0
    assert "--tf" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["backtest", "-h"], ["backtest", "x.csv", "--help"]])
def test_backtest_help_works_through_the_main_command(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    assert "--walk-forward" in capsys.readouterr().out


def test_mismatching_tf_is_refused_and_the_interval_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert run_analyze([str(ADA), "--tf", "1h", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the candles are 1m apart" in err and "use --tf 1m" in err
    assert not out.exists()


def test_interval_detected_when_tf_is_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_analyze([str(ADA), "--out", str(tmp_path / "o")]) == 0
    assert " 1m candles in " in capsys.readouterr().out


def test_gaps_do_not_change_the_detected_interval() -> None:
    import numpy as np

    times = np.array([0, 900_000, 1_800_000, 9_000_000, 9_900_000], dtype=np.int64)
    assert detect_interval_ms(times) == 900_000


def test_off_grid_times_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    step = 900_000
    times = [1_600_000_000_000 // step * step + i * step for i in range(40)]
    times[20:] = [t + 60_000 for t in times[20:]]  # shifted by a minute from candle 20 on
    src = tmp_path / "shifted.csv"
    src.write_text(HEADER + _rows(times))
    assert run_analyze([str(src), "--tf", "15m", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "20 candles open off the 15m grid" in err and str(times[20]) in err


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    src = tmp_path / "bom.csv"
    src.write_bytes(b"\xef\xbb\xbf" + (HEADER + _rows([0, 60_000, 120_000])).encode())
    c = read_candles(src)
    assert list(c.open_time) == [0, 60_000, 120_000]


def test_truncated_gzip_is_reported_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = gzip.compress((HEADER + _rows([i * 60_000 for i in range(5000)])).encode())
    src = tmp_path / "cut.csv.gz"
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(CandleFileError, match="truncated gzip file"):
        read_candles(src)
    assert run_analyze([str(src), "--out", str(tmp_path / "o")]) == 2
    assert "truncated gzip" in capsys.readouterr().err
