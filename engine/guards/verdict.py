"""A guard's verdict and the one-line summary chats show ("News SAFE · Funding SAFE (next in
3h10) · Vol OK")."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, NamedTuple

GuardName = Literal["news", "funding", "vol"]
GUARD_NAMES: tuple[GuardName, ...] = ("news", "funding", "vol")
LABELS: dict[str, str] = {"news": "News", "funding": "Funding", "vol": "Vol"}
BYPASSED = "bypassed by an admin"


class Verdict(NamedTuple):
    """What one guard says at one candle: ``state`` (news/funding ``SAFE``/``BLOCK``/``N/A``,
    vol ``OK``/``CHOP``/``SHOCK``/``UNKNOWN``), whether it blocks new entries, why (a text
    that changes only when the cause does: chats are alerted on changes), the venue time
    (epoch ms) until which it holds (``None``: open-ended) and a ``note`` with the details
    that move candle by candle (percentiles, the next window). A tuple: made for every guard
    at every candle, it has to be cheap."""

    guard: str
    state: str
    blocking: bool
    reason: str = ""
    until_ms: int | None = None
    note: str = ""

    @property
    def bypass(self) -> bool:
        """Whether an admin's bypass is what keeps it from blocking."""
        return self.reason.startswith(BYPASSED)

    def bypassed(self) -> Verdict:
        """The same verdict while an admin has the guard switched off: never blocking."""
        if not self.blocking:
            return self
        why = f"{BYPASSED} ({self.state}: {self.reason})"
        return self._replace(blocking=False, reason=why)


def fmt_span(ms: int) -> str:
    """A duration for a phone: ``45m``, ``3h10``, ``2d4h``."""
    minutes = max(0, ms) // 60_000
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{mins:02d}"
    return f"{mins}m"


@lru_cache(maxsize=4096)  # verdicts quote the same few times candle after candle
def fmt_utc(ms: int) -> str:
    """``2019-01-30 19:00 UTC``."""
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M} UTC"


def short(v: Verdict, now_ms: int) -> str:
    """``Funding SAFE (next in 3h10)``, ``News BLOCK (until 20:00, FOMC statement)``."""
    label = f"{LABELS.get(v.guard, v.guard)} {v.state}"
    if v.state == "N/A":
        return f"{LABELS.get(v.guard, v.guard)} n/a"
    if v.guard == "funding" and not v.blocking and v.until_ms is not None:
        return f"{label} (next in {fmt_span(v.until_ms - now_ms)})"
    if v.blocking and v.until_ms is not None:
        return f"{label} ({fmt_span(v.until_ms - now_ms)} left)"
    if v.bypass:
        return f"{label} (off)"
    return label


def guard_line(verdicts: dict[str, Verdict], now_ms: int) -> str:
    """Every guard's short form, in the fixed order news · funding · vol."""
    return " · ".join(short(verdicts[g], now_ms) for g in GUARD_NAMES if g in verdicts)
