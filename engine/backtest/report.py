"""``report.html`` and its images in ``--out``: one self-contained page a trader reads at a
glance (key figures of ``summary.json``, ``equity.png``, monthly returns, the R histogram,
attribution by agent and by exit reason, and trade snapshots drawn by the bot's decision chart
code, :class:`charts.renderer.ChartRenderer`). Images are PNG files next to the page, linked
relatively. Nothing in these files depends on the wall clock.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from charts.renderer import ChartRenderer
from charts.spec import ChartSpec, Level
from engine.backtest.output import iso
from engine.backtest.progress import Progress
from engine.backtest.report_charts import (
    Month,
    Row,
    by_agent,
    by_exit_reason,
    decision_r,
    equity_png,
    monthly_png,
    monthly_returns,
    pick_snapshots,
    r_curve,
    r_hist_png,
)
from engine.backtest.run import Result, Stream, TradeLeg
from greenlight.core.candlefile import CandleArrays

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BEFORE, AFTER, MAX_BARS = 60, 10, 300  # snapshot window around a trade, in candles
KEY_FIGURES = (
    ("trades", "Trades"),
    ("win_rate", "Win rate"),
    ("profit_factor", "Profit factor"),
    ("expectancy_r", "Expectancy (R)"),
    ("avg_r", "Avg R per exit leg"),
    ("return_pct", "Return %"),
    ("max_drawdown_pct", "Max drawdown %"),
    ("calmar", "Calmar"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("exposure_pct", "Exposure %"),
    ("start_equity_quote", "Start equity"),
    ("final_equity_quote", "Final equity"),
    ("fees_quote", "Fees"),
    ("funding_quote", "Funding"),
    ("candles", "Candles"),
)
CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#212529;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 9px;border:1px solid #dee2e6;
text-align:right}th{background:#f1f3f5}td:first-child,th:first-child{text-align:left}
.pos{color:#2b8a3e}.neg{color:#c92a2a}.kf td{font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #dee2e6;margin:6px 0}.snaps img{max-width:49%}"""


def _ema(x: F64, n: int) -> F64:
    out = np.empty_like(x)
    a, v = 2.0 / (n + 1), float(x[0])
    for i, p in enumerate(x.tolist()):
        v = p if i == 0 else v + a * (p - v)
        out[i] = v
    return out


def _slice(c: CandleArrays, a: int, b: int) -> CandleArrays:
    return CandleArrays(
        c.open_time[a:b],
        c.open[a:b],
        c.high[a:b],
        c.low[a:b],
        c.close[a:b],
        c.volume[a:b],
        c.has_volume,
    )


def snapshot_spec(st: Stream, legs: list[TradeLeg], result: Result) -> ChartSpec:
    """The decision chart of one traded decision (``legs`` are its exit legs): the candles
    around the trade, EMA 20/50, entry, stop and targets as the bot draws them, and the exits."""
    c, first = st.candles, legs[0]
    entry_bar = int(np.searchsorted(c.open_time, first.entry_time - st.tf_ms, side="left"))
    exit_bar = int(np.searchsorted(c.open_time, max(g.exit_time for g in legs), "right")) - 1
    a = max(0, entry_bar - BEFORE)
    b = min(len(c), max(exit_bar + 1 + AFTER, a + 2), a + MAX_BARS)
    warm = max(0, a - 200)
    close = c.close[warm:b]
    lines = {"EMA 20": _ema(close, 20)[a - warm :], "EMA 50": _ema(close, 50)[a - warm :]}
    levels = [Level(float(first.entry_price), f"Entry {first.entry_price}", "entry")]
    bracket = result.brackets.get(first.decision_id)
    if bracket is not None:
        levels.append(Level(float(bracket.stop_price), f"Stop {bracket.stop_price}", "stop"))
        levels += [
            Level(float(tp.price), f"TP{i} {tp.price} ({tp.r_multiple}R)", "target")
            for i, tp in enumerate(bracket.take_profits, 1)
        ]
    drawn = {lv.price for lv in levels}
    for g in legs:  # exits away from the bracket's levels (slippage, gaps, TTL, end of data)
        if float(g.exit_price) not in drawn:
            drawn.add(float(g.exit_price))
            levels.append(Level(float(g.exit_price), f"{g.exit_reason} {g.exit_price}", "other"))
    total_r = sum(float(g.r_multiple) for g in legs)
    return ChartSpec(
        title=f"{st.symbol} {st.tf} · {first.decision_id} {first.side} {total_r:+.2f}R",
        candles=_slice(c, a, b),
        lines=lines,
        levels=levels,
    )


PERCENT = {"win_rate"}  # 0..1 in summary.json, shown as a percentage
PLAIN = {"trades", "candles", "start_equity_quote", "final_equity_quote", "fees_quote"}


def _num(v: Any) -> str:
    return "n/a" if v is None else str(v)


def _human(key: str, v: Any) -> str:
    if v is None:
        return "n/a"
    if key in PERCENT:
        return f"{float(v):.1%}"
    if key in PLAIN or isinstance(v, str):
        return f"{float(v):,.2f}" if isinstance(v, str) else f"{v:,}"
    return f"{float(v):,.2f}"


def _cls(v: float) -> str:
    return "pos" if v > 0 else "neg" if v < 0 else ""


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(rows_) + "</tr>" for rows_ in rows)
    return f'<table class="{cls}"><tr>{th}</tr>{body}</table>'


def _td(text: str, cls: str = "") -> str:
    return f'<td class="{cls}">{html.escape(text)}</td>' if cls else f"<td>{html.escape(text)}</td>"


def _attribution(rows: list[Row], what: str) -> str:
    head = [what, "count", "win rate", "total R", "avg R", "PnL (quote)"]
    body = [
        [
            _td(r.key),
            _td(str(r.count)),
            _td(f"{r.win_rate:.1%}"),
            _td(f"{r.total_r:+.2f}", _cls(r.total_r)),
            _td(f"{r.avg_r:+.3f}", _cls(r.avg_r)),
            _td(f"{r.pnl_quote:,.2f}", _cls(r.pnl_quote)),
        ]
        for r in rows
    ]
    return _table(head, body)


def _monthly_table(months: list[Month]) -> str:
    years: dict[str, dict[int, float]] = {}
    for m in months:
        years.setdefault(m.month[:4], {})[int(m.month[5:7])] = m.return_pct
    head = ["year", *[f"{k:02d}" for k in range(1, 13)], "year"]
    body = []
    for y, ms in sorted(years.items()):
        total = float(np.prod([1 + v / 100 for v in ms.values()]) - 1) * 100
        cells = [_td(y)]
        for k in range(1, 13):
            cells.append(_td(f"{ms[k]:+.1f}", _cls(ms[k])) if k in ms else _td(""))
        body.append([*cells, _td(f"{total:+.1f}", _cls(total))])
    return _table(head, body)


def write_report(
    out: Path,
    result: Result,
    figures: dict[str, Any],
    times: I64,
    eq: F64,
    dd: F64,
    *,
    heading: str = "Backtest",
    extra: str = "",
    progress: Progress | None = None,
) -> list[Path]:
    """Write ``report.html``, ``equity.png``, ``monthly.png``, ``r_hist.png`` and the
    ``snapshot-<decision>.png`` files into ``out``; returns the paths written. ``heading``
    starts the title; ``extra`` (HTML) goes right after the key figures; ``progress`` is
    told after each file (``done`` from 0 to 1)."""
    out.mkdir(parents=True, exist_ok=True)
    start = float(figures["start_equity_quote"])
    legs = result.legs
    symbols = ", ".join(sorted({f"{s.symbol} {s.tf}" for s in result.streams}))
    span = f"{iso(int(times[0]))} → {iso(int(times[-1]))}" if len(times) else "no candles"
    written = []
    snap_ids = pick_snapshots(legs)
    files = 4 + len(snap_ids)

    def put(name: str, data: bytes) -> str:
        (out / name).write_bytes(data)
        written.append(out / name)
        if progress is not None:
            progress(name, len(written) / files)
        return name

    title = f"{heading} {symbols} · {span}"
    eq_img = put("equity.png", equity_png(times, eq, dd, r_curve(times, legs), title))
    months = monthly_returns(times, eq, start)
    month_img = put("monthly.png", monthly_png(months))
    rs = decision_r(legs)
    hist_img = put("r_hist.png", r_hist_png(rs))
    renderer, snaps = ChartRenderer(), []
    for did in snap_ids:
        mine = [g for g in legs if g.decision_id == did]
        st = next(s for s in result.streams if s.symbol == mine[0].symbol)
        png = renderer.render_png(snapshot_spec(st, mine, result))
        snaps.append(put(f"snapshot-{did}.png", png))
    key = [
        [_td(label), _td(_human(k, figures.get(k))), _td(_num(figures.get(k)))]
        for k, label in KEY_FIGURES
    ]
    skipped = figures.get("skipped") or {}
    skip_rows = [[_td(str(k)), _td(str(v))] for k, v in sorted(dict(skipped).items())]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>settings sha256 <code>{html.escape(str(figures.get('settings_sha256')))}</code>"
        " · figures from <a href='summary.json'>summary.json</a>, trades in"
        " <a href='trades.csv'>trades.csv</a>, equity in <a href='equity.csv'>equity.csv</a></p>",
        "<h2>Key figures</h2>",
        _table(["figure", "value", "exact (summary.json)"], key, "kf"),
        *([extra] if extra else []),
        "<h2>Equity (quote and R) and drawdown</h2>",
        f'<img src="{eq_img}" alt="equity and drawdown">',
        "<h2>Monthly returns (%)</h2>",
        _monthly_table(months),
        f'<img src="{month_img}" alt="monthly returns">',
        "<h2>R multiples</h2>",
        f'<img src="{hist_img}" alt="R histogram">',
        "<h2>Attribution by agent (per decision)</h2>",
        _attribution(by_agent(legs), "agent"),
        "<h2>Attribution by exit reason (per exit leg)</h2>",
        _attribution(by_exit_reason(legs), "exit reason"),
    ]
    if skip_rows:
        parts += ["<h2>Signals not traded</h2>", _table(["reason", "count"], skip_rows)]
    parts.append("<h2>Trade snapshots (best and worst by R)</h2><div class='snaps'>")
    parts += [f'<img src="{name}" alt="{html.escape(name)}">' for name in snaps]
    if not snaps:
        parts.append("<p>No trades.</p>")
    parts.append("</div></body></html>\n")
    put("report.html", "\n".join(parts).encode())
    return written
