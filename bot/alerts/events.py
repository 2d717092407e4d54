"""Alert event types (what ``/mute`` names) and durations (``30m``, ``2h``, ``1d``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from greenlight.core.settings import MARKET_EVENTS as MARKET_EVENTS
from greenlight.core.settings import TEAM_EVENTS as TEAM_EVENTS

EVENTS: Final = MARKET_EVENTS + TEAM_EVENTS
DESCRIPTIONS: Final[dict[str, str]] = {
    "bos": "break of structure",
    "choch": "change of character",
    "ob": "new order block",
    "fvg": "new fair value gap",
    "retest": "zone retest",
    "regime": "regime change",
    "fill": "entry fills",
    "stop": "stop hit",
    "tp": "take-profit hit",
    "closed": "position closed",
    "kill": "kill switch and resume",
    "guard": "guard changes",
    "error": "errors needing attention",
    "info": "other trade notes",
    "summary": "daily summary",
}
_DURATION_RE = re.compile(r"([1-9][0-9]{0,3})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_MUTE = timedelta(days=30)


def parse_duration(text: str) -> timedelta | None:
    """``30m`` / ``2h`` / ``1d`` → a timedelta (at most 30 days); ``None`` if malformed."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        return None
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return value if value <= MAX_MUTE else None


def router_event(kind: str, text: str) -> str:
    """The event type of an alert the router wrote with only a kind (``fill``, ``closed``,
    ``kill``, ``resume``, ``error``, ``info``): exits are told apart by the leg the router
    names in the text (``🛑 Stop SL filled …``, ``🎯 Take-profit TP1 filled …``)."""
    if kind == "fill":
        if text.startswith("🛑") or " SL" in text:
            return "stop"
        if text.startswith("🎯") or " TP" in text:
            return "tp"
        return "fill"
    if kind in ("kill", "resume"):
        return "kill"
    return kind if kind in EVENTS else "info"
