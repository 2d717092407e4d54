"""The files of ``--out``: ``trades.csv``, ``equity.csv`` and ``summary.json`` (times ISO-8601
UTC on the data's own clock; bytes depend only on the inputs and the settings)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.backtest.run import TradeLeg

TRADE_COLUMNS = (
    "decision_id",
    "symbol",
    "market",
    "side",
    "agent",
    "signal_time",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "quantity",
    "fees_quote",
    "funding_quote",
    "pnl_quote",
    "r_multiple",
    "exit_reason",
)
EQUITY_COLUMNS = ("time", "equity_quote", "drawdown_pct")


def iso(ms: int) -> str:
    """Epoch ms as ISO-8601 UTC (``2019-01-01T00:15:00Z``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(ms: int) -> str:
    """``2019-07-01`` at a UTC midnight, ``2020-12-31 18:30`` otherwise (tables for people)."""
    text = iso(ms)
    return text[:10] if text.endswith("T00:00:00Z") else text[:16].replace("T", " ")


def _cell(v: object) -> str:
    return format(v, "f") if not isinstance(v, str | int) else str(v)


def write_trades(path: Path, legs: list[TradeLeg]) -> None:
    """``trades.csv``: one row per exit leg."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(TRADE_COLUMNS)
        for leg in legs:
            row = []
            for name in TRADE_COLUMNS:
                v = getattr(leg, name)
                row.append(iso(v) if name.endswith("_time") else _cell(v))
            w.writerow(row)


def write_equity(
    path: Path, times: npt.NDArray[np.int64], eq: npt.NDArray[np.float64], dd: npt.NDArray[Any]
) -> None:
    """``equity.csv``: equity and drawdown at every close of the timeline."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(EQUITY_COLUMNS)
        for t, e, d in zip(times.tolist(), eq.tolist(), dd.tolist(), strict=True):
            w.writerow((iso(t), f"{e:.2f}", f"{d:.4f}"))


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """``summary.json`` (sorted keys, two-space indent, trailing newline)."""
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
