"""The words of ``/backtest``: its progress message, the busy answer, the outcome and the
key figures (numbers as ``summary.json`` has them, rounded for a phone)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest_data import Request, shown_path

BAR = 10
STAGES = {
    "starting": "starting the worker",
    "loading candles": "loading candles",
    "news calendar": "reading the news calendar",
    "decisions": "judging the signals",
    "done": "judging the signals",
}


def stage(label: str) -> str:
    """What the worker is doing, in words, from its progress label (a symbol: its stages)."""
    if label.endswith((".png", ".html")):
        return "drawing the report"
    return STAGES.get(label, "running the stages")


def progress_text(req: Request, percent: int, label: str, seconds: float) -> str:
    """``⏳ Backtest BTCUSDT spot 15m · … / ▰▰▰▱▱▱▱▱▱▱ 30% · running the stages · 4 s``."""
    filled = percent * BAR // 100
    bar = "▰" * filled + "▱" * (BAR - filled)
    return f"⏳ Backtest {req.label}\n{bar} {percent}% · {stage(label)} · {seconds:.0f} s"


def busy_text(req: Request, who: str, percent: int, seconds: float) -> str:
    """The answer to a second /backtest while one runs."""
    return (
        f"⏳ Busy: a backtest is running ({req.label}, started by {who} {seconds:.0f} s ago), "
        f"{percent}% done. One at a time: try again when it has finished."
    )


def _num(v: Any, fmt: str, unit: str = "") -> str:
    return format(v, fmt) + unit if isinstance(v, int | float) else "n/a"


def _money(v: Any) -> str:
    return f"{Decimal(str(v)):,.2f}"


def figures_text(req: Request, figures: dict[str, Any], out: Path, agent: str) -> str:
    """The key figures of a finished run, its output folder and the command behind it."""
    f = figures
    quote = " USDT" if req.dataset.symbol.endswith("USDT") else ""
    win = f"{f['win_rate'] * 100:.1f}%" if isinstance(f.get("win_rate"), int | float) else "n/a"
    return "\n".join(
        (
            f"📊 Backtest {req.label}",
            f"{f['candles']:,} candles, the first {req.warmup} only warming up · agent {agent}",
            f"Trades {f['trades']} · win rate {win} · "
            f"profit factor {_num(f.get('profit_factor'), '.2f')}",
            f"Expectancy {_num(f.get('expectancy_r'), '+.2f', 'R')} · "
            f"max drawdown {_num(f.get('max_drawdown_pct'), '.2f', '%')}",
            f"Equity {_money(f['start_equity_quote'])} → {_money(f['final_equity_quote'])}{quote}"
            f" · fees {_money(f['fees_quote'])}{quote}",
            f"Output: {shown_path(out)}/",
            f"Same as: {req.command()} --out DIR",
        )
    )


def outcome_text(req: Request, outcome: str, detail: str, seconds: float) -> str:
    """The progress message's last state: finished, failed, timed out (``detail``: the
    bound in seconds) or stopped."""
    if outcome == "done":
        return f"✅ Backtest {req.label}\nfinished in {seconds:.0f} s (100%)"
    if outcome == "timeout":
        return (
            f"⏱ Backtest {req.label}\nstopped: it ran past its time bound of {detail} s "
            "(backtest.chat_timeout_s), so the worker was killed and its output folder is "
            "incomplete. Try a shorter span."
        )
    if outcome == "stopped":
        return f"⏹ Backtest {req.label}\nstopped: the bot is shutting down."
    return f"❌ Backtest {req.label}\nfailed: {detail}"
