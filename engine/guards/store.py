"""Guard rows in PostgreSQL: verdicts per stream (``guard_state``), funding windows
(``guard_events``) and the news events admins add from chat (``news_events``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from engine.guards.news_calendar import NewsEvent, parse_scope
from engine.guards.verdict import Verdict

# The rows come as one JSON array of [venue, symbol, name, state, blocking, reason, note,
# until_ms, at_ms] (one parameter: no per-element encoding on the client, whatever the count).
_UPSERT = """
INSERT INTO guard_state (name, venue, symbol, state, blocking, reason, note, enabled, until_ms,
                         at_ms)
SELECT e->>2, e->>0, e->>1, e->>3, (e->>4)::boolean, e->>5, e->>6,
       NOT (e->>5) LIKE 'bypassed%', (e->>7)::bigint, (e->>8)::bigint
FROM jsonb_array_elements($1::text::jsonb) AS e
ON CONFLICT (name, venue, symbol) DO UPDATE SET state = EXCLUDED.state,
    blocking = EXCLUDED.blocking, reason = EXCLUDED.reason, note = EXCLUDED.note,
    enabled = EXCLUDED.enabled, until_ms = EXCLUDED.until_ms, at_ms = EXCLUDED.at_ms,
    updated_at = clock_timestamp()
"""


async def save_verdicts(
    conn: asyncpg.Connection, venue: str, symbol: str, verdicts: list[Verdict], at_ms: int
) -> None:
    """Upsert the stream's verdict of each guard given, as of venue time ``at_ms`` (one
    statement)."""
    await save_verdict_rows(conn, [(venue, symbol, verdicts, at_ms)])


async def save_verdict_rows(
    conn: asyncpg.Connection, streams: list[tuple[str, str, list[Verdict], int]]
) -> None:
    """Like :func:`save_verdicts` for several streams at once, each ``(venue, symbol,
    verdicts, at_ms)`` (one statement; a stream appears at most once)."""
    rows = [
        (venue, symbol, v.guard, v.state, v.blocking, v.reason, v.note, v.until_ms, at)
        for venue, symbol, vs, at in streams
        for v in vs
    ]
    await conn.execute(_UPSERT, orjson.dumps(rows).decode())


async def guard_rows(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every stream's latest verdicts, by venue, symbol and guard."""
    rows = await conn.fetch(
        "SELECT name, venue, symbol, state, blocking, reason, until_ms, note, at_ms"
        " FROM guard_state"
        " ORDER BY venue, symbol, array_position(ARRAY['news','funding','vol'], name)"
    )
    return [dict(r) for r in rows]


async def record_window(
    conn: asyncpg.Connection,
    guard: str,
    venue: str,
    symbol: str,
    span: tuple[int, int],
    detail: dict[str, Any],
) -> bool:
    """Record a window a guard blocks for, once; ``True`` if it was new."""
    status: str = await conn.execute(
        "INSERT INTO guard_events (guard, venue, symbol, start_ms, end_ms, detail)"
        " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
        guard,
        venue,
        symbol,
        span[0],
        span[1],
        detail,
    )
    return status.endswith(" 1")


async def news_version(conn: asyncpg.Connection) -> str:
    """Changes whenever an event is added to (or removed from) ``news_events``."""
    value: str = await conn.fetchval(
        "SELECT count(*)::text || ':' || coalesce(max(id), 0)::text FROM news_events"
    )
    return value


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


async def chat_events(conn: asyncpg.Connection) -> list[NewsEvent]:
    """The events in ``news_events`` (added from chat), by start."""
    rows = await conn.fetch(
        "SELECT at, end_at, impact, scope, title, source FROM news_events ORDER BY at, id"
    )
    return [
        NewsEvent(
            _ms(r["at"]),
            _ms(r["end_at"]),
            str(r["impact"]),
            parse_scope(str(r["scope"])),
            str(r["title"]),
            str(r["source"]),
        )
        for r in rows
    ]


async def add_chat_event(conn: asyncpg.Connection, event: NewsEvent, by: str) -> int:
    """Store an event an admin added; return its id."""
    scope = ",".join(sorted(event.scope)) or "ALL"
    eid: int = await conn.fetchval(
        "INSERT INTO news_events (at, end_at, impact, scope, title, source)"
        " VALUES ($1,$2,$3,$4,$5,$6) RETURNING id",
        datetime.fromtimestamp(event.start_ms / 1000, UTC),
        datetime.fromtimestamp(event.end_ms / 1000, UTC),
        event.severity,
        scope,
        event.title,
        by,
    )
    return eid


SHIFT_KEY = "clock_shift_ms"  # control: {venue: ms its candles run after the real calendar}


async def save_clock_shift(conn: asyncpg.Connection, venue: str, shift_ms: int) -> None:
    """Remember how far ``venue``'s candles are moved from the real calendar (``/news``
    shows events against the market's time)."""
    await conn.execute(
        "INSERT INTO control (key, value, updated_by) VALUES ($1, jsonb_build_object($2::text,"
        " $3::bigint), 'engine') ON CONFLICT (key) DO UPDATE SET value = control.value ||"
        " EXCLUDED.value, updated_at = clock_timestamp()",
        SHIFT_KEY,
        venue,
        shift_ms,
    )


async def clock_shifts(conn: asyncpg.Connection) -> dict[str, int]:
    """Every venue's clock shift the engine recorded."""
    value = await conn.fetchval("SELECT value FROM control WHERE key = $1", SHIFT_KEY)
    return {str(k): int(v) for k, v in (value or {}).items()}
