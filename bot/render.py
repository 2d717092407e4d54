"""Text a person reads on a phone: confirmations, outcomes and status, numbers formatted with
the symbol's tick and step sizes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from greenlight.core.contracts import Bracket


def fmt_num(value: Decimal, step: Decimal | None = None) -> str:
    """Thousands separators, as many decimals as ``step`` has (or as the value has)."""
    if step is not None and step > 0:
        places = max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]
        return f"{value:,.{places}f}"
    return f"{value.normalize():,f}"


def _pct(a: Decimal, b: Decimal) -> str:
    return f"{(a - b) / b * 100:+.2f} %".replace("-", "−")


def confirmation_text(
    decision: dict[str, Any],
    bracket: Bracket,
    tick: Decimal,
    step: Decimal,
    now: datetime,
    tz: str = "UTC",
) -> str:
    """The confirmation message of DESIGN.md §6a for one decision row."""
    sig = decision["signal"]
    expires = decision["expires_at"]
    left = max(0, int((expires - now).total_seconds()))
    side = "🟢 LONG" if bracket.side.value == "BUY" else "🔴 SHORT"
    base = bracket.symbol.removesuffix("USDT") if bracket.symbol.endswith("USDT") else ""
    quote = "USDT" if base else ""
    tps = " · ".join(
        f"{fmt_num(leg.price, tick)} ({leg.r_multiple.normalize()}R"
        + (f" → {leg.r_net:.2f}R net" if leg.r_net is not None else "")
        + ")"
        for leg in bracket.take_profits
    )
    costs = f" incl. {bracket.cost_quote:,.2f} costs" if bracket.cost_quote else ""
    lines = [
        f"{side} {bracket.symbol} · {decision['tf']} · {bracket.market.value}"
        f"   #D-{decision['id']}  expires in {left // 60}:{left % 60:02d}",
        f"Entry {fmt_num(bracket.entry_price, tick)} ({bracket.entry_type.lower()})   "
        f"Stop {fmt_num(bracket.stop_price, tick)} "
        f"({_pct(bracket.stop_price, bracket.entry_price)})"
        f"   Risk {bracket.risk_fraction * 100:.2f} % = {bracket.risk_quote:,.2f} {quote}".rstrip()
        + costs,
        f"TP {tps}   Size {fmt_num(bracket.quantity, step)} {base}".rstrip(),
        f"Why: {sig.get('why') or sig.get('agent')}",
        f"{guards_line(decision)}          score {float(sig['score']):.2f}",
        f"Candle {fmt_time(decision['open_time'], tz)}",
    ]
    return "\n".join(lines)


def guards_line(decision: dict[str, Any]) -> str:
    """``Guards: News SAFE · Funding SAFE (next in 3h10) · Vol OK · regime TREND``: the
    verdicts the engine stored at the decision candle (older decisions: the regime only)."""
    stored = decision.get("guards") or {}
    if stored.get("line"):
        return f"Guards: {stored['line']}"
    return f"Guards: trading ON · regime {decision.get('regime') or 'n/a'}"


def fmt_time(epoch_ms: int, tz: str = "UTC") -> str:
    """An epoch-ms time in the chat's timezone, e.g. ``2019-03-01 14:15 UTC``."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(tz))
    return f"{dt:%Y-%m-%d %H:%M} {tz}"


def fmt_dt(when: datetime, tz: str = "UTC") -> str:
    """A datetime in the chat's timezone, e.g. ``2019-03-01 14:15 UTC``."""
    return f"{when.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"


def fmt_money(value: Decimal | float, quote: str = "USDT", signed: bool = False) -> str:
    """``9,991.23 USDT``; with ``signed`` a leading ``+`` or ``−``."""
    amount = Decimal(str(value))
    if not signed:
        return f"{amount:,.2f} {quote}"
    sign = "+" if amount >= 0 else "−"
    return f"{sign}{abs(amount):,.2f} {quote}"


def fmt_r(value: float | None) -> str:
    """``+1.50R`` (``n/a`` when unknown)."""
    if value is None:
        return "n/a"
    return f"{value:+.2f}R".replace("-", "−")


def outcome_text(original: str, outcome: str) -> str:
    """The confirmation text after a decision: the original first line plus the outcome."""
    head = original.splitlines()[0] if original else ""
    return f"{head}\n{outcome}"
