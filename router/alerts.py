"""Short, phone-friendly alert texts for fills, stops, closes and failures."""

from __future__ import annotations

from decimal import Decimal

from greenlight.core.symbols import SymbolRules


def fmt_price(rules: SymbolRules, price: Decimal) -> str:
    """A price at the symbol's tick with thousands separators (``60,250`` / ``0.5123``)."""
    rounded = rules.round_price(price)
    text = f"{rounded:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_qty(rules: SymbolRules, qty: Decimal) -> str:
    """A quantity at the symbol's lot step, trailing zeros removed."""
    text = format(rules.round_qty(qty), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def filled_text(
    rules: SymbolRules, side: str, qty: Decimal, avg: Decimal, decision_id: int, label: str = ""
) -> str:
    """``✅ Filled BUY 0.0688 BTCUSDT @ 60,250 · #D-12``."""
    kind = label.rstrip("0123456789")
    icon, what = {
        "TP": ("🎯", "Take-profit"),
        "SL": ("🛑", "Stop"),
        "X": ("🧯", "Flatten"),
        "M": ("🧯", "Market exit"),
    }.get(kind, ("✅", "Filled"))
    prefix = f"{icon} {what} {label} filled" if label else f"{icon} {what}"
    return (
        f"{prefix} {side} {fmt_qty(rules, qty)} {rules.symbol} @ {fmt_price(rules, avg)}"
        f" · #D-{decision_id}"
    )


def closed_text(rules: SymbolRules, pnl: Decimal, decision_id: int) -> str:
    """``🏁 Closed #D-12 · PnL +12.34 USDT``."""
    sign = "+" if pnl >= 0 else "−"
    return f"🏁 Closed #D-{decision_id} · PnL {sign}{abs(pnl):,.2f} {rules.quote_asset}"


def protected_text(rules: SymbolRules, stop: Decimal, tps: list[Decimal], decision_id: int) -> str:
    """``🛡️ Protected #D-12 · stop 59,550 · TP 61,300 / 61,650``."""
    ladder = " / ".join(fmt_price(rules, p) for p in tps)
    return f"🛡️ Protected #D-{decision_id} · stop {fmt_price(rules, stop)} · TP {ladder}"


def reconciled_text(
    decision_id: int, leg: str, was: tuple[str, Decimal], now: tuple[str, Decimal]
) -> str:
    """The alert for one order the database had wrong (or whose fills it was missing)."""
    (old_status, old_filled), (status, filled) = was, now
    if was == now:
        return (
            f"🔄 Reconciled #D-{decision_id} {leg}: {status} {filled}, fills the"
            " user stream never delivered read from the venue"
        )
    return (
        f"🔄 Reconciled #D-{decision_id} {leg}: {old_status} → {status}"
        f" (filled {old_filled} → {filled})"
    )
