"""The funding guard (USD-M): BLOCK around each funding time and when the predicted rate the
position would pay exceeds ``[funding] max_adverse_rate``.

The venue's ``premiumIndex`` (``nextFundingTime``, ``lastFundingRate`` — Binance's running
estimate of the coming settlement) is polled by a scheduler job (:mod:`engine.guards.jobs`)
into a :class:`FundingBook`, and asked again for the symbol just before a USD-M decision is
judged. The windows depend only on the candle time: funding times lie on a fixed grid
(``interval_hours``, anchored on the ``nextFundingTime`` seen), so the same candles give the
same windows whenever the poll ran. A rate is only used for the funding time it was quoted
for — the one asked at the decision's candle, so a stepped replay judges the same way every
run. Before the first answer the guard blocks (it cannot see).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from engine.guards.verdict import Verdict, fmt_utc
from greenlight.core.settings_decision import FundingSettings

HOUR_MS = 3_600_000


@dataclass
class FundingInfo:
    """What the venue said about one perpetual: the funding grid's anchor and the predicted
    rate per funding time."""

    anchor_ms: int  # a funding time (``nextFundingTime`` as last seen)
    rates: dict[int, Decimal] = field(default_factory=dict)


def parse_premium_index(item: dict[str, Any]) -> tuple[str, int, Decimal]:
    """``(symbol, nextFundingTime, lastFundingRate)`` of one ``premiumIndex`` item;
    ``ValueError`` when a field is missing or malformed."""
    try:
        return (
            str(item["symbol"]),
            int(item["nextFundingTime"]),
            Decimal(str(item["lastFundingRate"])),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"premiumIndex item without usable fields: {exc!r}") from None


class FundingBook:
    """Funding knowledge per symbol, shared by the streams of one USD-M venue."""

    def __init__(self, settings: FundingSettings) -> None:
        self.settings = settings
        self.interval_ms = settings.interval_hours * HOUR_MS
        self.before_ms = settings.window_before_min * 60_000
        self.after_ms = settings.window_after_min * 60_000
        self.info: dict[str, FundingInfo] = {}
        self.error: str | None = None

    def update(self, symbol: str, next_funding_ms: int, rate: Decimal) -> None:
        """Record one ``premiumIndex`` answer."""
        info = self.info.get(symbol)
        if info is None:
            info = self.info[symbol] = FundingInfo(next_funding_ms)
        info.anchor_ms = next_funding_ms
        info.rates[next_funding_ms] = rate
        if len(info.rates) > 64:  # keep the recent ones
            for t in sorted(info.rates)[:-32]:
                del info.rates[t]

    def next_funding(self, symbol: str, now_ms: int) -> int | None:
        """The first funding time at or after ``now_ms`` on the symbol's grid."""
        info = self.info.get(symbol)
        if info is None:
            return None
        step = self.interval_ms
        return now_ms + (info.anchor_ms - now_ms) % step

    def window(self, funding_ms: int) -> tuple[int, int]:
        """The venue-time span blocked around one funding time."""
        return funding_ms - self.before_ms, funding_ms + self.after_ms

    def window_at(self, symbol: str, now_ms: int) -> int | None:
        """The funding time whose window holds ``now_ms``, if any."""
        nxt = self.next_funding(symbol, now_ms)
        if nxt is None or self.before_ms + self.after_ms == 0:
            return None
        for t in (nxt - self.interval_ms, nxt):
            lo, hi = self.window(t)
            if lo <= now_ms <= hi:
                return t
        return None

    def verdict(self, symbol: str, now_ms: int, side: str | None = None) -> Verdict:
        """SAFE or BLOCK at venue time ``now_ms``; with ``side`` (``long``/``short``) the
        predicted rate against that side is checked too."""
        nxt = self.next_funding(symbol, now_ms)
        if nxt is None:
            why = self.error or "no premiumIndex answer yet"
            return Verdict("funding", "BLOCK", True, f"funding unknown: {why}", None)
        inside = self.window_at(symbol, now_ms)
        if inside is not None:
            hi = self.window(inside)[1]
            return Verdict("funding", "BLOCK", True, f"funding at {fmt_utc(inside)}", hi)
        info = self.info[symbol]
        rate = info.rates.get(nxt)
        limit = self.settings.max_adverse_rate
        if rate is not None and side is not None:
            adverse = rate if side == "long" else -rate
            if adverse > limit:
                return Verdict(
                    "funding",
                    "BLOCK",
                    True,
                    f"predicted funding {rate:+.4%} at {fmt_utc(nxt)} is against {side}s"
                    f" (limit {limit:.4%})",
                    nxt + self.after_ms,
                )
        return Verdict("funding", "SAFE", False, "", nxt - self.before_ms, _next_text(nxt, rate))


@lru_cache(maxsize=1024)  # the same funding time is quoted candle after candle
def _next_text(funding_ms: int, rate: Decimal | None) -> str:
    shown = "" if rate is None else f", predicted {rate:+.4%}"
    return f"next funding {fmt_utc(funding_ms)}{shown}"


NOT_APPLICABLE = Verdict("funding", "N/A", False, "spot: no funding")
