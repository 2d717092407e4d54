"""The news guard: SAFE or BLOCK at a candle time, from a calendar of scheduled events.

Each event blocks new entries from ``before`` its start to ``after`` its end (per severity,
``[news]`` settings); a window of 0/0 never blocks. Events are on the real calendar, candle
times on the venue's: a replay that runs history on today's calendar (the simulator's
``clock = "now"``) moves candles by a whole number of days, ``clock_shift_ms``, so the guard
compares ``candle time - shift`` with the events. Against a real exchange the shift is 0.

The calendar has two sources, merged: a file (reloaded by :class:`CalendarFile` when it
changes) and events admins add from chat (``news_events``).
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.guards.news_calendar import CalendarError, NewsEvent, read_calendar
from engine.guards.verdict import Verdict, fmt_utc
from greenlight.core.settings_decision import NewsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Window:
    lo: int  # real-calendar ms
    hi: int
    event: NewsEvent


class _Windows:
    """Blocking windows of the events concerning one symbol, sorted by start."""

    def __init__(self, windows: list[_Window]) -> None:
        self.items = sorted(windows, key=lambda w: (w.lo, w.hi))
        self.lo = [w.lo for w in self.items]
        self.reach: list[int] = []  # running maximum of hi: does any window so far reach t?
        top = -(2**62)
        for w in self.items:
            top = max(top, w.hi)
            self.reach.append(top)

    def at(self, t: int) -> tuple[_Window | None, int | None]:
        """The window covering ``t`` that ends last (or ``None``) and the end of the block
        of overlapping windows around ``t`` — else the start of the next window."""
        i = bisect.bisect_right(self.lo, t)
        if i == 0 or self.reach[i - 1] < t:
            return None, self.lo[i] if i < len(self.lo) else None
        cover = max((w for w in self.items[:i] if w.hi >= t), key=lambda w: w.hi)
        end = cover.hi
        j = i
        while j < len(self.items) and self.items[j].lo <= end:  # chained overlaps
            end = max(end, self.items[j].hi)
            j += 1
        return cover, end


class NewsGuard:
    """Calendar events (file + chat) and their blocking windows, per symbol."""

    def __init__(self, settings: NewsSettings, events: list[NewsEvent] | None = None) -> None:
        self.settings = settings
        self._file: list[NewsEvent] = list(events or [])
        self._chat: list[NewsEvent] = []
        self._cache: dict[frozenset[str], _Windows] = {}

    @property
    def events(self) -> list[NewsEvent]:
        """File and chat events, by start."""
        return sorted(self._file + self._chat, key=lambda e: (e.start_ms, e.end_ms, e.title))

    def set_file_events(self, events: list[NewsEvent]) -> None:
        """Replace the file's events (after a successful reload)."""
        self._file = list(events)
        self._cache.clear()

    def set_chat_events(self, events: list[NewsEvent]) -> None:
        """Replace the events added from chat."""
        self._chat = list(events)
        self._cache.clear()

    def window(self, e: NewsEvent) -> tuple[int, int] | None:
        """The real-calendar ``[lo, hi]`` an event blocks, ``None`` when its severity's
        window is 0/0."""
        before, after = self.settings.window_ms(e.severity)
        if before == 0 and after == 0:
            return None
        return e.start_ms - before, e.end_ms + after

    def _windows(self, assets: frozenset[str]) -> _Windows:
        w = self._cache.get(assets)
        if w is None:
            items = []
            for e in self._file + self._chat:
                span = self.window(e)
                if span is not None and e.applies_to(assets):
                    items.append(_Window(span[0], span[1], e))
            w = self._cache[assets] = _Windows(items)
        return w

    def verdict(self, now_ms: int, assets: frozenset[str], shift_ms: int = 0) -> Verdict:
        """SAFE or BLOCK at venue time ``now_ms`` for a symbol made of ``assets``;
        ``shift_ms`` is how far the venue's candles are moved from the real calendar."""
        cover, edge = self._windows(assets).at(now_ms - shift_ms)
        if cover is None:
            if edge is None:
                return _CLEAR
            return Verdict("news", "SAFE", False, "", edge + shift_ms, _opens(edge))
        e = cover.event
        assert edge is not None
        return Verdict(
            "news",
            "BLOCK",
            True,
            f"{e.severity} {e.title} at {fmt_utc(e.start_ms)}",
            edge + shift_ms,
        )

    def upcoming(self, now_ms: int, shift_ms: int = 0, n: int = 5) -> list[NewsEvent]:
        """The next ``n`` events whose window (or the event) has not ended at ``now_ms``."""
        t = now_ms - shift_ms
        out = []
        for e in self.events:
            span = self.window(e) or (e.start_ms, e.end_ms)
            if span[1] >= t:
                out.append(e)
        return out[:n]


_CLEAR = Verdict("news", "SAFE", False, "", None, "no window ahead")


@lru_cache(maxsize=1024)
def _opens(edge: int) -> str:
    return "next window opens " + fmt_utc(edge)


class CalendarFile:
    """A calendar file watched for changes: :meth:`check` reloads it when its content
    changed; a bad file is refused (``file:line: reason`` in :attr:`error`) and the previous
    events stay in force."""

    def __init__(self, path: Path, guard: NewsGuard) -> None:
        self.path = path
        self.guard = guard
        self.error: str | None = None
        self.loaded = 0  # successful loads
        self._digest = b""

    def check(self) -> str | None:
        """Reload if the file changed; return a message when something happened (loaded,
        refused, vanished), ``None`` when nothing changed."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            digest = b"missing"
            if digest == self._digest:
                return None
            self._digest = digest
            self.error = f"{self.path.name}:0: cannot read: {exc.strerror or exc}"
            return f"news calendar {self.error}; keeping {len(self.guard.events)} events"
        digest = hashlib.sha256(data).digest()
        if digest == self._digest:
            return None
        self._digest = digest
        try:
            events = read_calendar(self.path)
        except CalendarError as exc:
            self.error = str(exc)
            return f"news calendar refused: {exc}; the previous calendar stays in force"
        self.guard.set_file_events(events)
        self.error = None
        self.loaded += 1
        return f"news calendar {self.path.name} loaded: {len(events)} events"
