"""Guard commands, the same on every channel: ``/guards``, ``/guard NAME off [DURATION]``,
``/guard NAME on``, ``/news`` and ``/news add START DURATION SEVERITY TITLE``.

The handlers are plain functions of a pool, the settings, the caller and the arguments, and
return a channel-neutral :class:`~bot.channel.Reply` (plain text, no markup); the command
table's rows (:mod:`bot.commands.catalog`, handlers in :mod:`bot.commands.guards`) call
:func:`run`, and :data:`ROLES` gives the role each needs. ``/news`` is viewer; ``/news add``
additionally needs admin, checked here (:attr:`Caller.is_admin`).

What the guards say comes from the engine (``guard_state``: each stream's verdicts at its
last candle, venue time); switching a guard off is a bounded bypass (default 1 h, at most
24 h) the engine applies from its next candle; every change is audited and announced in
every chat by an alert (:mod:`engine.guards.toggles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from bot.channel import Reply
from engine.guards import store as gstore
from engine.guards import toggles
from engine.guards.news import NewsGuard
from engine.guards.news_calendar import CalendarError, NewsEvent, parse_time, read_calendar
from engine.guards.verdict import LABELS, Verdict, fmt_span, fmt_utc, short
from greenlight.core.clock import Clock
from greenlight.core.settings import Settings
from greenlight.core.store import alert, audit

ROLES = {"guards": "viewer", "guard": "admin", "news": "viewer"}
USAGE = {
    "guard": "Usage: /guard NAME off [DURATION] · /guard NAME on (NAME: news, funding, vol;"
    " DURATION like 30m, 2h, 1h30m; default 1h, at most 24h)",
    "news": "Usage: /news · /news add START DURATION SEVERITY TITLE"
    " (START: 2026-05-01T18:00Z, now or +45m; SEVERITY: HIGH, MED or LOW)",
}


@dataclass(frozen=True)
class Caller:
    """Who typed the command: channel, user id, the name shown in messages and the audit
    log, and whether they hold the admin role."""

    channel: str
    user_id: str
    name: str
    is_admin: bool


async def run(
    pool: asyncpg.Pool,
    settings: Settings,
    caller: Caller,
    command: str,
    args: list[str],
    clock: Clock,
) -> Reply:
    """Run a guard command (``guards``, ``guard`` or ``news``); the caller's role for the
    command itself was checked by the dispatcher (see :data:`ROLES`). ``clock`` stands in for
    the market's time before the engine wrote any verdict."""
    command = command.lstrip("/").lower()
    async with pool.acquire() as conn:
        if command == "guards":
            return Reply(await guards_text(conn))
        if command == "guard":
            return await _guard(conn, caller, args)
        if command == "news" and args[:1] == ["add"]:
            return await _news_add(conn, settings, caller, args[1:], clock)
        if command == "news":
            return Reply(await news_text(conn, settings, clock))
    return Reply(f"Unknown guard command {command!r}.", ok=False)


def _verdict(r: dict[str, Any]) -> Verdict:
    return Verdict(r["name"], r["state"], r["blocking"], r["reason"], r["until_ms"], r["note"])


async def guards_text(conn: asyncpg.Connection) -> str:
    """Each stream's verdicts (state, reason, until when) and any bypass in force."""
    rows = await gstore.guard_rows(conn)
    lines = ["Guards (at each stream's last candle):"]
    if not rows:
        lines.append("  no verdicts yet (the engine writes them at its first live candle)")
    streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        streams.setdefault((r["venue"], r["symbol"]), []).append(r)
    for (venue, symbol), rs in streams.items():
        at = max(r["at_ms"] for r in rs)
        lines.append(f"{symbol} ({venue}) · {fmt_utc(at)}")
        for r in rs:
            v = _verdict(r)
            why = (
                " — " + "; ".join(t for t in (v.reason, v.note) if t) if v.reason or v.note else ""
            )
            until = ""
            if v.until_ms is not None:
                until = f" · until {fmt_utc(v.until_ms)} (in {fmt_span(v.until_ms - at)})"
            flag = " ⛔ blocks" if v.blocking else ""
            lines.append(f"  {short(v, at)}{flag}{until}{why}")
    lines.extend(await _bypass_lines(conn))
    return "\n".join(lines)


async def _bypass_lines(conn: asyncpg.Connection) -> list[str]:
    out = []
    for name, (until, by) in (await toggles.toggles(conn)).items():
        if until is not None:
            out.append(f"⚠️ {LABELS[name]} guard OFF until {until:%Y-%m-%d %H:%M} UTC (by {by})")
    return out or ["All guards ON."]


async def status_lines(conn: asyncpg.Connection) -> list[str]:
    """For ``/status``: one line per stream with its guard line and regime."""
    rows = await gstore.guard_rows(conn)
    regimes = {
        (r["venue"], r["symbol"]): r["regime"]
        for r in await conn.fetch(
            "SELECT DISTINCT ON (venue, symbol) venue, symbol, regime FROM regimes"
            " ORDER BY venue, symbol, open_time DESC"
        )
    }
    streams: dict[tuple[str, str], list[Verdict]] = {}
    at: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["venue"], r["symbol"])
        streams.setdefault(key, []).append(_verdict(r))
        at[key] = max(at.get(key, 0), r["at_ms"])
    lines = [
        f"  {sym}: {' · '.join(short(v, at[(venue, sym)]) for v in vs)}"
        f" · regime {regimes.get((venue, sym)) or 'n/a'}"
        for (venue, sym), vs in streams.items()
    ]
    off = [line for line in await _bypass_lines(conn) if line.startswith("⚠️")]
    return ["Guards:", *lines, *off] if lines or off else []


async def _guard(conn: asyncpg.Connection, caller: Caller, args: list[str]) -> Reply:
    if (
        len(args) not in (2, 3)
        or args[1].lower() not in ("on", "off")
        or (args[1].lower() == "on" and len(args) == 3)
    ):
        return Reply(USAGE["guard"], ok=False)
    try:
        name = toggles.check_name(args[0])
        if args[1].lower() == "on":
            changed = await toggles.switch_on(conn, name, caller.name)
            what = "back ON" if changed else "already ON"
            return Reply(f"{LABELS[name]} guard {what}; the engine uses it from its next candle.")
        span = toggles.parse_duration(args[2]) if len(args) == 3 else None
        until = await toggles.switch_off(conn, name, span, caller.name)
    except toggles.ToggleError as exc:
        return Reply(f"{exc}. {USAGE['guard']}", ok=False)
    return Reply(
        f"{LABELS[name]} guard OFF until {until:%Y-%m-%d %H:%M} UTC, from the engine's next"
        f" candle; it turns itself back on then (/guard {name} on ends it sooner)."
    )


async def market_now(conn: asyncpg.Connection, clock: Clock) -> int:
    """The real-calendar time the market has reached: the newest guard verdict's candle
    time less its venue's clock shift; ``clock``'s wall time before the engine wrote any."""
    row = await conn.fetchrow(
        "SELECT venue, at_ms FROM guard_state WHERE name = 'news' ORDER BY at_ms DESC LIMIT 1"
    )
    if row is None:
        return clock.now_ms()
    shifts = await gstore.clock_shifts(conn)
    return int(row["at_ms"]) - shifts.get(str(row["venue"]), 0)


async def _calendar(conn: asyncpg.Connection, settings: Settings) -> tuple[NewsGuard, str]:
    guard = NewsGuard(settings.news)
    note = ""
    path = settings.news.calendar_file
    if path:
        try:
            guard.set_file_events(read_calendar(settings.resolve_path(path)))
        except CalendarError as exc:
            note = f"⚠️ calendar file refused: {exc}"
    guard.set_chat_events(await gstore.chat_events(conn))
    return guard, note


async def news_text(conn: asyncpg.Connection, settings: Settings, clock: Clock, n: int = 5) -> str:
    """The next events (file and chat) with the windows they block."""
    guard, note = await _calendar(conn, settings)
    now = await market_now(conn, clock)
    events = guard.upcoming(now, n=n)
    lines = [f"News · market time {fmt_utc(now)}"] + ([note] if note else [])
    if not events:
        lines.append("  no upcoming events")
    for e in events:
        span = guard.window(e)
        block = (
            f"blocks {fmt_utc(span[0])[11:16]}–{fmt_utc(span[1])[11:16]}"
            if span
            else "does not block"
        )
        when = "now" if e.start_ms <= now else f"in {fmt_span(e.start_ms - now)}"
        scope = ",".join(sorted(e.scope)) or "ALL"
        lines.append(f"  {fmt_utc(e.start_ms)} ({when}) {e.severity} {e.title} [{scope}] · {block}")
    return "\n".join(lines)


async def _news_add(
    conn: asyncpg.Connection, settings: Settings, caller: Caller, args: list[str], clock: Clock
) -> Reply:
    if not caller.is_admin:
        await audit(
            conn,
            f"{caller.channel}:{caller.user_id}",
            "command.refused",
            None,
            {"command": "news add", "needed": "admin"},
        )
        return Reply("Not authorised: /news add needs the admin role.", ok=False)
    if len(args) < 4:
        return Reply(USAGE["news"], ok=False)
    try:
        start = await _start(conn, args[0], clock)
        span = toggles.parse_duration(args[1])
        severity = args[2].upper()
        event = NewsEvent(
            start,
            start + int(span.total_seconds() * 1000),
            severity,
            frozenset(),
            " ".join(args[3:]),
            f"chat:{caller.name}",
        )
        if severity not in ("HIGH", "MED", "LOW"):
            raise ValueError(f"severity {args[2]!r} is not HIGH, MED or LOW")
    except (ValueError, toggles.ToggleError) as exc:
        return Reply(f"{exc}. {USAGE['news']}", ok=False)
    async with conn.transaction():
        eid = await gstore.add_chat_event(conn, event, caller.name)
        detail = {"id": eid, "start": fmt_utc(event.start_ms), "severity": severity}
        await audit(conn, caller.name, "news.added", None, {**detail, "title": event.title})
        span_ms = NewsGuard(settings.news).window(event)
        blocks = f", blocking {fmt_utc(span_ms[0])} – {fmt_utc(span_ms[1])}" if span_ms else ""
        text = (
            f"📰 {caller.name} added {severity} {event.title} at {fmt_utc(event.start_ms)}{blocks}."
        )
        await alert(conn, "guard", text)
    return Reply(f"Added news event #{eid}{blocks}; the engine uses it from its next candle.")


async def _start(conn: asyncpg.Connection, text: str, clock: Clock) -> int:
    """``now``, ``+45m`` (from the market's time) or an ISO-8601 UTC time → epoch ms."""
    raw = text.strip().lower()
    if raw == "now":
        return await market_now(conn, clock)
    if raw.startswith("+"):
        span = toggles.parse_duration(raw[1:])
        return await market_now(conn, clock) + int(span.total_seconds() * 1000)
    return parse_time(text)
