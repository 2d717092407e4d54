"""The equity curve and the figures of ``summary.json``.

Equity is marked at every candle close of the run's timeline (the union of the streams'
closes): start equity, plus the realized PnL of every exit leg (fees and funding included)
from the close of the candle it filled in, plus the open legs marked at each close (the
entry fee of the open part counted). Per-trade figures are per decision (its legs summed);
``avg_r`` is per exit leg. Sharpe and Sortino are annualised (√365) from daily returns of
the equity at each UTC day's last close; Calmar is the annualised return over the maximum
drawdown.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.backtest.run import Result, TradeLeg
from greenlight.core.settings import Settings
from greenlight.core.settings_backtest import CHAT_KEYS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
DAY_MS = 86_400_000


def equity_curve(result: Result, start: Decimal) -> tuple[I64, F64, F64]:
    """Close times, equity and drawdown (percent below the running peak)."""
    if not result.streams:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    closes = {st.symbol: st.candles.open_time + st.tf_ms for st in result.streams}
    times = timeline(list(closes.values()))
    eq = np.full(len(times), float(start))
    for pos in result.positions:
        st = next(s for s in result.streams if s.symbol == pos.symbol)
        c = st.candles
        left = float(pos.quantity)
        fee = float(pos.entry_fee) / float(pos.quantity)
        entry_bar = int(np.searchsorted(closes[pos.symbol], pos.opened, side="left"))
        last = entry_bar
        for leg in pos.legs:
            k = int(np.searchsorted(times, leg.time, side="left"))
            eq[k:] += float(leg.pnl)
            leg_end = int(np.searchsorted(closes[pos.symbol], leg.time, side="left"))
            # the leg is open from the entry to the close before its fill
            a, b = entry_bar, leg_end
            if b > a:
                q = float(leg.quantity)
                upnl = pos.side * q * (c.close[a:b] - float(pos.entry)) - fee * q
                idx = np.searchsorted(times, closes[pos.symbol][a:b], side="left")
                np.add.at(eq, idx, upnl)
            last = max(last, leg_end)
            left -= float(leg.quantity)
    peak = np.maximum.accumulate(eq)
    dd = np.where(peak > 0, (peak - eq) / peak * 100.0, 0.0)
    return times, eq, dd


def timeline(closes: list[I64]) -> I64:
    """The sorted union of the streams' close times (each stream's are increasing)."""
    if len(closes) == 1:
        return closes[0].copy()
    times = np.sort(np.concatenate(closes), kind="stable")
    keep = np.ones(len(times), np.bool_)
    keep[1:] = times[1:] != times[:-1]
    return times[keep]


def _per_decision(legs: list[TradeLeg]) -> list[tuple[float, float]]:
    by: dict[str, tuple[float, float]] = {}
    for leg in legs:
        p, r = by.get(leg.decision_id, (0.0, 0.0))
        by[leg.decision_id] = (p + float(leg.pnl_quote), r + float(leg.r_multiple))
    return [by[k] for k in sorted(by)]


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 6) if b else None


def summary(
    result: Result,
    settings: Settings,
    times: I64,
    eq: F64,
    dd: F64,
    seconds: float,
) -> dict[str, Any]:
    """The ``summary.json`` figures (see the module docstring); ``candles_per_second`` is
    the only one that depends on the machine."""
    trades = _per_decision(result.legs)
    pnl = [p for p, _ in trades]
    rs = [r for _, r in trades]
    wins = sum(1 for p in pnl if p > 0)
    gross_win = sum(p for p in pnl if p > 0)
    gross_loss = -sum(p for p in pnl if p < 0)
    start = float(settings.backtest.start_equity_quote)
    final = float(eq[-1]) if len(eq) else start
    years = (int(times[-1]) - int(times[0])) / (365 * DAY_MS) if len(times) > 1 else 0.0
    max_dd = float(dd.max()) if len(dd) else 0.0
    cagr = (final / start) ** (1 / years) - 1 if years > 0 and final > 0 else 0.0
    days = times // DAY_MS
    last_of_day = np.flatnonzero(np.diff(days, append=days[-1] + 1)) if len(days) else days
    daily = np.diff(eq[last_of_day]) / eq[last_of_day][:-1] if len(last_of_day) > 1 else eq[:0]
    sd = float(daily.std()) if len(daily) > 1 else 0.0
    down = daily[daily < 0]
    dsd = float(np.sqrt((down**2).mean())) if len(down) else 0.0
    mean = float(daily.mean()) if len(daily) else 0.0
    exposure = _exposure(result, times)
    leg_r = [float(leg.r_multiple) for leg in result.legs]
    out: dict[str, Any] = {
        "trades": len(trades),
        "win_rate": round(wins / len(trades), 6) if trades else None,
        "profit_factor": _ratio(gross_win, gross_loss),
        "expectancy_r": round(sum(rs) / len(rs), 6) if rs else None,
        "avg_r": round(sum(leg_r) / len(leg_r), 6) if leg_r else None,
        "max_drawdown_pct": round(max_dd, 6),
        "calmar": round(cagr * 100 / max_dd, 6) if max_dd > 0 else None,
        "sharpe": round(mean / sd * math.sqrt(365), 6) if sd > 0 else None,
        "sortino": round(mean / dsd * math.sqrt(365), 6) if dsd > 0 else None,
        "exposure_pct": round(exposure, 6),
        "fees_quote": format(sum((leg.fees_quote for leg in result.legs), Decimal(0)), "f"),
        "funding_quote": format(sum((leg.funding_quote for leg in result.legs), Decimal(0)), "f"),
        "start_equity_quote": format(settings.backtest.start_equity_quote, "f"),
        "final_equity_quote": f"{final:.2f}",
        "return_pct": round((final / start - 1) * 100, 6),
        "exit_legs": len(result.legs),
        "skipped": dict(sorted(result.skipped.items())),
        "candles": result.candles,
        "candles_per_second": round(result.candles / seconds) if seconds > 0 else None,
        "settings_sha256": settings_sha256(settings),
    }
    return out


def _exposure(result: Result, times: I64) -> float:
    """Share of the timeline's closes with at least one position open, in percent."""
    if not len(times):
        return 0.0
    held = np.zeros(len(times), np.int64)
    for pos in result.positions:
        a = int(np.searchsorted(times, pos.opened, side="left"))
        b = int(np.searchsorted(times, pos.closed_at, side="left"))
        held[a:b] = 1
    return float(held.mean() * 100.0)


def settings_sha256(settings: Settings) -> str:
    """SHA-256 of the settings as canonical JSON (what makes a run reproducible; the keys
    that cannot change a figure are left out)."""
    leave_out: dict[str, Any] = dict.fromkeys(("database", "sim", "venue", "telegram", "bot"), True)
    leave_out["backtest"] = set(CHAT_KEYS)
    text = settings.model_dump_json(exclude=leave_out)
    return hashlib.sha256(text.encode()).hexdigest()
