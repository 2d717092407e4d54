"""News calendars: CSV or JSON files of events, read strictly.

CSV: a header ``start,end,severity,scope,title`` then one event per line (``#`` lines are
comments); JSON: an array of objects with the same keys. ``start``/``end`` are ISO-8601 UTC
(``2019-01-30T19:00:00Z`` or ``+00:00``; other offsets and naive times are refused),
``end >= start``; ``severity`` is ``HIGH``, ``MED`` or ``LOW``; ``scope`` is ``ALL`` or a
comma-separated list of assets (``USD,BTC``; ``USD`` covers USD-pegged quote assets such as
USDT). Any bad row refuses the whole file with :class:`CalendarError` ``file:line: reason``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEVERITIES = ("HIGH", "MED", "LOW")
FIELDS = ("start", "end", "severity", "scope", "title")
# Quote assets that move with the US dollar: a ``USD`` scope covers symbols quoted in them.
USD_PEGGED = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "DAI"})
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "BTC", "ETH", "BNB", "EUR", "TRY")


class CalendarError(ValueError):
    """A calendar file cannot be used; the message is ``file:line: reason``."""


@dataclass(frozen=True, slots=True)
class NewsEvent:
    """One scheduled event; ``scope`` empty means every symbol."""

    start_ms: int
    end_ms: int
    severity: str
    scope: frozenset[str]
    title: str
    source: str = ""

    def applies_to(self, assets: frozenset[str]) -> bool:
        """Whether the event concerns a symbol made of ``assets`` (see :func:`symbol_assets`)."""
        return not self.scope or not self.scope.isdisjoint(assets)


def symbol_assets(symbol: str, base: str = "", quote: str = "") -> frozenset[str]:
    """The assets an event scope is matched against: base, quote and ``USD`` when the quote
    is USD-pegged. Without ``base``/``quote`` they are split off a known quote suffix."""
    if not quote:
        quote = next((q for q in _QUOTES if symbol.endswith(q) and symbol != q), "")
        base = symbol[: len(symbol) - len(quote)] if quote else symbol
    assets = {a for a in (base, quote, symbol) if a}
    if quote in USD_PEGGED:
        assets.add("USD")
    return frozenset(assets)


def parse_time(text: str) -> int:
    """ISO-8601 UTC → epoch ms; ``ValueError`` for anything else."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty time")
    dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None or dt.utcoffset() != timedelta(0):
        raise ValueError(f"time {raw!r} is not UTC (end it with Z or +00:00)")
    return int(dt.astimezone(UTC).timestamp() * 1000)


def parse_scope(text: str) -> frozenset[str]:
    """``ALL`` → empty set; ``USD,BTC`` → {USD, BTC}; ``ValueError`` for bad asset names."""
    raw = text.strip().upper()
    if raw in ("", "ALL", "*"):
        return frozenset()
    assets = frozenset(a.strip() for a in raw.split(","))
    bad = sorted(a for a in assets if not (a.isalnum() and 1 <= len(a) <= 20))
    if bad:
        raise ValueError(f"scope {text!r}: {bad} are not asset names (use ALL or e.g. USD,BTC)")
    return assets


def make_event(row: dict[str, Any], source: str) -> NewsEvent:
    """Validate one row (a CSV record or a JSON object); ``ValueError`` says what is wrong."""
    missing = [f for f in FIELDS if f not in row or row[f] is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    extra = sorted(set(row) - set(FIELDS))
    if extra:
        raise ValueError(f"unknown field(s) {', '.join(map(str, extra))}")
    start, end = parse_time(str(row["start"])), parse_time(str(row["end"]))
    if end < start:
        raise ValueError(f"end {row['end']} is before start {row['start']}")
    severity = str(row["severity"]).strip().upper()
    if severity not in SEVERITIES:
        raise ValueError(f"severity {row['severity']!r} is not one of {', '.join(SEVERITIES)}")
    title = str(row["title"]).strip()
    if not title:
        raise ValueError("empty title")
    return NewsEvent(start, end, severity, parse_scope(str(row["scope"])), title, source)


def _csv_events(text: str, name: str) -> list[NewsEvent]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    body = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        return []
    head_no, head = body[0]
    header = [h.strip().lower() for h in next(csv.reader([head]))]
    if header != list(FIELDS):
        raise CalendarError(f"{name}:{head_no}: header must be {','.join(FIELDS)}, got {head!r}")
    out = []
    for n, line in body[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) != len(FIELDS):
            raise CalendarError(f"{name}:{n}: expected {len(FIELDS)} fields, got {len(cells)}")
        try:
            out.append(make_event(dict(zip(FIELDS, cells, strict=True)), name))
        except ValueError as exc:
            raise CalendarError(f"{name}:{n}: {exc}") from None
    return out


def _json_events(text: str, name: str) -> list[NewsEvent]:
    """Each element of the top-level array, with the line it starts on for messages."""
    dec = json.JSONDecoder()
    i = len(text) - len(text.lstrip())
    if not text[i:].startswith("["):
        raise CalendarError(f"{name}:{text.count(chr(10), 0, i) + 1}: expected a JSON array")
    i += 1
    out: list[NewsEvent] = []
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        line = text.count("\n", 0, i) + 1
        if i >= len(text):
            raise CalendarError(f"{name}:{line}: the array is not closed")
        if text[i] == "]":
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise CalendarError(f"{name}:{exc.lineno}: not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise CalendarError(f"{name}:{line}: an event must be an object")
        try:
            out.append(make_event(obj, name))
        except ValueError as exc:
            raise CalendarError(f"{name}:{line}: {exc}") from None


def read_calendar(path: Path) -> list[NewsEvent]:
    """Every event of a ``.csv`` or ``.json`` calendar, sorted by start; raise
    :class:`CalendarError` (``file:line: reason``) when any row is bad."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{name}:0: cannot read: {exc}") from None
    events = _json_events(text, name) if path.suffix.lower() == ".json" else _csv_events(text, name)
    return sorted(events, key=lambda e: (e.start_ms, e.end_ms, e.title))
