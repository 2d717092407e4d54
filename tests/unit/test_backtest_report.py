"""``greenlight backtest`` report: ``report.html`` and its PNGs on a slice of the bundled file,
the key figures of ``summary.json`` in the page, the same bytes run to run, and a progress bar
that only ever goes to stderr."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from engine.backtest.cli import backtest, run_backtest
from engine.backtest.inputs import load_streams
from engine.backtest.progress import ProgressBar, wanted
from engine.backtest.report import KEY_FIGURES
from engine.backtest.report_charts import EQUITY_SIZE
from greenlight.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
SLICE = ("--from", "2019-01-01", "--to", "2019-06-01")


def _run(out: Path, *extra: str) -> int:
    argv = [str(BTC), "--tf", "15m", "--out", str(out), "--reproducible", *SLICE, *extra]
    return run_backtest(argv, Settings())


def test_report_files_figures_and_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(a, "--progress") == 0
    err = capsys.readouterr().err
    assert "100%" in err and "\r[" in err  # the bar was drawn, on stderr
    assert _run(b, "--no-progress") == 0
    assert capsys.readouterr().err == ""

    html = (a / "report.html").read_text(encoding="utf-8")
    with Image.open(a / "equity.png") as img:
        img.load()  # decodes the whole image
        assert img.format == "PNG" and img.size == EQUITY_SIZE
    summary = json.loads((a / "summary.json").read_text())
    assert summary["trades"] > 0
    for key, label in KEY_FIGURES:
        value = summary[key]
        assert label in html
        assert (str(value) if value is not None else "n/a") in html, key
    assert "Monthly returns" in html and "Attribution by agent" in html
    assert "Attribution by exit reason" in html and "R multiples" in html

    # every image the page links is there and decodes; snapshots are decision charts
    links = re.findall(r'<img src="([^"]+)"', html)
    assert {"equity.png", "monthly.png", "r_hist.png"} <= set(links)
    snaps = [name for name in links if name.startswith("snapshot-")]
    assert 1 <= len(snaps) <= 4
    for name in links:
        with Image.open(a / name) as img:
            img.load()
    assert "http" not in html  # self-contained: nothing fetched from elsewhere

    # the progress bar changed nothing, and nothing depends on the wall clock
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_progress_bar_draws_in_place_and_only_on_a_terminal() -> None:
    buf = io.StringIO()
    assert not wanted(None, buf)  # a StringIO is no terminal
    assert wanted(True, buf) and not wanted(False, buf)
    bar = ProgressBar(buf)
    bar.finish()
    assert buf.getvalue() == ""  # nothing drawn, nothing to end
    for k in range(0, 11):
        bar("BTCUSDT", k / 10)
        bar("BTCUSDT", k / 10)  # same percentage: not redrawn
    bar.finish()
    text = buf.getvalue()
    assert text.count("\r") == 11 and text.endswith("] 100%  BTCUSDT\n")
    assert "\n" not in text[:-1]


def test_warmup_candles_only_warm_the_stages(tmp_path: Path) -> None:
    """``--warmup N``: no decision on the first N candles (as the live engine's warm-up)."""
    s = Settings()
    end = 1_551_398_400_000  # 2019-03-01
    cold = backtest(load_streams([BTC], "15m", s, end=end), s, tmp_path / "a", report=False)[0]
    assert cold.legs
    cut = cold.legs[0].signal_time + 900_000
    c = load_streams([BTC], "15m", s, end=end)[0].candles
    n = int((c.open_time < cut).sum())
    warm = backtest(
        load_streams([BTC], "15m", s, end=end, warmup=n), s, tmp_path / "b", report=False
    )[0]
    assert all(leg.signal_time >= cut for leg in warm.legs)
    assert cold.legs[0].signal_time not in {g.signal_time for g in warm.legs}
