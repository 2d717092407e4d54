"""Read candle files: Binance kline dumps (12 columns, with or without header) and CSVs with
an open-time column plus ``open, high, low, close[, volume]``.

Open times may be epoch milliseconds, epoch microseconds or ISO-8601 UTC; the result is always
epoch milliseconds. Bad rows stop the read with the file, line and reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from greenlight.core.contracts import Market

TIME_COLUMNS = ("open_time_ms_utc", "open_time", "timestamp", "date", "datetime")
_US_THRESHOLD = 10**14  # epoch values above this are microseconds (year 5138 in ms)


class CandleFileError(ValueError):
    """A candle file has a row that cannot be used; the message names file and line."""


def file_symbol(path: Path) -> str:
    """The symbol a candle or funding file is for: its name's first ``-``/``_`` part."""
    return path.name.split("-")[0].split("_")[0].split(".")[0].upper()


def file_market(path: Path) -> Market:
    """USD-M when the file's name says ``perp`` or ``futures``, spot otherwise."""
    name = path.name.lower()
    return Market.USDM if "perp" in name or "futures" in name else Market.SPOT


@dataclass(frozen=True)
class CandleArrays:
    """Column arrays of candles in file order; ``volume`` is NaN when the file has none."""

    open_time: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    has_volume: bool

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    def slice(self, start: int, stop: int) -> CandleArrays:
        """A view of rows ``start:stop``."""
        return CandleArrays(
            self.open_time[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
            self.has_volume,
        )


def _parse_time(text: str) -> int:
    t = text.strip()
    if t.lstrip("-").replace(".", "", 1).isdigit():
        value = int(float(t))
        return value // 1000 if value >= _US_THRESHOLD else value
    dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {t!r} has no timezone; ISO times must be UTC (…Z)")
    return int(dt.timestamp() * 1000)


def _open_text(path: Path) -> io.TextIOBase:
    # utf-8-sig: a byte-order mark (spreadsheet exports) is dropped, not read as a column name
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115


def _read_rows(file: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        with _open_text(file) as fh:
            rows.extend(csv.reader(fh))
    except EOFError as exc:
        raise CandleFileError(
            f"{file}: truncated gzip file (it ends after {len(rows)} complete lines; "
            "was the download or copy interrupted?)"
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise CandleFileError(f"{file}: not a valid gzip file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise CandleFileError(
            f"{file}: not UTF-8 text near byte {exc.start} (after line {len(rows)})"
        ) from exc
    return rows


def read_candles(path: str | Path) -> CandleArrays:
    """Read and validate a candle file (see module docstring for accepted layouts)."""
    file = Path(path)
    if not file.exists():
        raise CandleFileError(f"{file}: no such file")
    rows = _read_rows(file)
    if not rows:
        raise CandleFileError(f"{file}: empty file")
    header = [c.strip().lower() for c in rows[0]]
    first_is_data = header[0].replace(".", "", 1).isdigit()
    if first_is_data:
        if len(header) < 6:
            raise CandleFileError(f"{file}:1: expected a 12-column Binance kline row")
        t_i, o_i, h_i, l_i, c_i, v_i = 0, 1, 2, 3, 4, 5
        body, first_line = rows, 1
    else:
        t_i = next((header.index(c) for c in TIME_COLUMNS if c in header), -1)
        if t_i < 0:
            raise CandleFileError(
                f"{file}:1: no open-time column (one of {', '.join(TIME_COLUMNS)})"
            )
        try:
            o_i, h_i, l_i, c_i = (header.index(c) for c in ("open", "high", "low", "close"))
        except ValueError as exc:
            raise CandleFileError(f"{file}:1: needs columns open, high, low, close") from exc
        v_i = header.index("volume") if "volume" in header else -1
        body, first_line = rows[1:], 2
    n = len(body)
    times = np.empty(n, np.int64)
    cols = np.empty((5, n), np.float64)
    for k, row in enumerate(body):
        line = first_line + k
        try:
            times[k] = _parse_time(row[t_i])
            cols[0, k] = float(row[o_i])
            cols[1, k] = float(row[h_i])
            cols[2, k] = float(row[l_i])
            cols[3, k] = float(row[c_i])
            cols[4, k] = float(row[v_i]) if v_i >= 0 and row[v_i] != "" else np.nan
        except (ValueError, IndexError) as exc:
            raise CandleFileError(f"{file}:{line}: cannot parse row {row!r}: {exc}") from exc
    candles = CandleArrays(times, cols[0], cols[1], cols[2], cols[3], cols[4], v_i >= 0)
    validate_candles(candles, str(file), first_line)
    return candles


def validate_candles(c: CandleArrays, source: str = "candles", first_line: int = 0) -> None:
    """Reject NaN, non-positive prices, high < low, OHLC outside the range, duplicates and
    out-of-order rows, naming the first offending row."""
    o, h, lo, cl = c.open, c.high, c.low, c.close
    bad = ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(cl))
    checks: list[tuple[npt.NDArray[np.bool_], str]] = [
        (bad, "non-finite price"),
        ((o <= 0) | (h <= 0) | (lo <= 0) | (cl <= 0), "non-positive price"),
        (h < lo, "high below low"),
        ((o > h) | (o < lo) | (cl > h) | (cl < lo), "open/close outside the high-low range"),
    ]
    if c.has_volume:
        checks.append((~np.isfinite(c.volume) | (c.volume < 0), "missing or negative volume"))
    if len(c) > 1:
        step = np.diff(c.open_time)
        dup = np.concatenate([[False], step == 0])
        back = np.concatenate([[False], step < 0])
        checks += [(dup, "duplicate open time"), (back, "open time out of order")]
    for mask, reason in checks:
        idx = np.flatnonzero(mask)
        if idx.size:
            i = int(idx[0])
            where = f"line {first_line + i}" if first_line else f"row {i}"
            raise CandleFileError(f"{source}: {where} (open_time {int(c.open_time[i])}): {reason}")


def find_gaps(open_time: npt.NDArray[np.int64], tf_ms: int) -> list[tuple[int, int]]:
    """Return ``(last_open_before_gap, first_open_after_gap)`` for every missing stretch."""
    step = np.diff(open_time)
    idx = np.flatnonzero(step != tf_ms)
    return [(int(open_time[i]), int(open_time[i + 1])) for i in idx]


def detect_interval_ms(open_time: npt.NDArray[np.int64]) -> int | None:
    """The candles' interval: the most common step between consecutive open times (gaps and
    stray rows do not change it); ``None`` with fewer than two candles."""
    if open_time.shape[0] < 2:
        return None
    steps, counts = np.unique(np.diff(open_time), return_counts=True)
    return int(steps[int(np.argmax(counts))])


def off_grid(open_time: npt.NDArray[np.int64], tf_ms: int) -> npt.NDArray[np.intp]:
    """Indices of candles whose open time is not a multiple of the interval (UTC grid)."""
    return np.flatnonzero(open_time % tf_ms != 0)
