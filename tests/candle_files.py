"""The bundled candle files the feature tests read, each loaded once per test process."""

from __future__ import annotations

import functools
from pathlib import Path

from greenlight.core.candlefile import CandleArrays, read_candles

ROOT = Path(__file__).resolve().parents[1]
FILE_15M = ROOT / "data" / "BTCUSDT-15m-2019-2020.csv.gz"
DIR_1H = ROOT / "tests" / "data" / "btcusdt_1h_2025_01"


@functools.cache
def load_15m() -> CandleArrays:
    """The bundled 70k-candle BTCUSDT 15m file (read once per test process)."""
    return read_candles(FILE_15M)


@functools.cache
def load_1h() -> CandleArrays:
    """BTCUSDT 1h, January 2025 (open times in microseconds in the file)."""
    return read_candles(DIR_1H / "btcusdt-1h.csv")
