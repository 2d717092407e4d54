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


def iso_many(ms: npt.NDArray[np.int64]) -> list[str]:
    """:func:`iso` of every element, in one numpy pass."""
    secs = (ms // 1000).astype("datetime64[s]")
    return [f"{s}Z" for s in np.datetime_as_string(secs, unit="s").tolist()]


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
    rows = [
        f"{t},{e:.2f},{d:.4f}\n"
        for t, e, d in zip(iso_many(times), eq.tolist(), dd.tolist(), strict=True)
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(EQUITY_COLUMNS) + "\n")
        fh.writelines(rows)


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """``summary.json`` (sorted keys, two-space indent, trailing newline)."""
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def figures_line(f: dict[str, object]) -> str:
    """The key figures in one line (``69976 candles, 30 trades: win rate 30.0%, …``)."""

    def num(key: str, fmt: str, unit: str = "") -> str:
        v = f.get(key)
        if isinstance(v, str):  # quote amounts are decimal strings in summary.json
            v = float(v)
        return format(v, fmt) + unit if isinstance(v, int | float) else "n/a"

    trades = f"{f['trades']} trade" + ("" if f["trades"] == 1 else "s")
    return (
        f"{f['candles']} candles, {trades}: win rate {num('win_rate', '.1%')}, "
        f"profit factor {num('profit_factor', '.2f')}, "
        f"expectancy {num('expectancy_r', '+.2f', 'R')}, "
        f"max drawdown {num('max_drawdown_pct', '.2f', '%')}, "
        f"equity {num('start_equity_quote', '.2f')} → {num('final_equity_quote', '.2f')} "
        f"(fees {num('fees_quote', '.2f')})"
    )
