"""SQL for subscriptions (``chat_watches``), mutes, alert rows and per-chat deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from greenlight.core.contracts import NotifyChannel
from greenlight.core.store import notify

Stream = tuple[str, str, str]  # venue, symbol, tf


class Mute(NamedTuple):
    """A mute in force: until when (``None``: until unmuted), and whether the event still
    arrives, silently, instead of not at all."""

    until: datetime | None
    silent: bool


async def watch(conn: asyncpg.Connection, channel: str, chat: str, s: Stream, by: str) -> bool:
    """Subscribe a chat to a stream; ``False`` if it already was. The follower starts at the
    stream's newest candle (no history is replayed)."""
    added = await conn.fetchval(
        "INSERT INTO chat_watches (channel, chat_id, venue, symbol, tf, created_by)"
        " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING RETURNING TRUE",
        channel,
        chat,
        *s,
        by,
    )
    await conn.execute(
        "INSERT INTO watch_cursors (venue, symbol, tf, open_time)"
        " SELECT $1, $2, $3, coalesce((SELECT open_time FROM feature_state"
        " WHERE venue=$1 AND symbol=$2 AND tf=$3), 0) ON CONFLICT DO NOTHING",
        *s,
    )
    return bool(added)


async def unwatch(conn: asyncpg.Connection, channel: str, chat: str, s: Stream) -> bool:
    """Unsubscribe; ``False`` if the chat was not watching."""
    gone = await conn.fetchval(
        "DELETE FROM chat_watches WHERE channel=$1 AND chat_id=$2 AND venue=$3 AND symbol=$4"
        " AND tf=$5 RETURNING TRUE",
        channel,
        chat,
        *s,
    )
    return bool(gone)


async def watches(conn: asyncpg.Connection, channel: str, chat: str) -> list[Stream]:
    """A chat's subscriptions."""
    rows = await conn.fetch(
        "SELECT venue, symbol, tf FROM chat_watches WHERE channel=$1 AND chat_id=$2"
        " ORDER BY symbol, tf",
        channel,
        chat,
    )
    return [(r["venue"], r["symbol"], r["tf"]) for r in rows]


async def watched_streams(conn: asyncpg.Connection) -> dict[Stream, int]:
    """Every stream someone watches, with the follower's cursor (last candle handled)."""
    rows = await conn.fetch(
        "SELECT DISTINCT w.venue, w.symbol, w.tf, c.open_time FROM chat_watches w"
        " JOIN watch_cursors c USING (venue, symbol, tf)"
    )
    return {(r["venue"], r["symbol"], r["tf"]): int(r["open_time"]) for r in rows}


async def move_cursor(conn: asyncpg.Connection, s: Stream, open_time: int) -> None:
    """Remember that the follower handled ``s`` up to ``open_time``."""
    await conn.execute(
        "UPDATE watch_cursors SET open_time = $4 WHERE venue=$1 AND symbol=$2 AND tf=$3"
        " AND open_time < $4",
        *s,
        open_time,
    )


async def mute(
    conn: asyncpg.Connection,
    channel: str,
    chat: str,
    event: str,
    until: datetime | None,
    by: str,
    silent: bool = False,
) -> None:
    """Mute ``event`` in a chat until ``until`` (``None``: until unmuted); ``silent``: keep
    delivering it, without a notification."""
    await conn.execute(
        "INSERT INTO chat_mutes (channel, chat_id, event, until, created_by, silent)"
        " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (channel, chat_id, event)"
        " DO UPDATE SET until = EXCLUDED.until, created_by = EXCLUDED.created_by,"
        " silent = EXCLUDED.silent",
        channel,
        chat,
        event,
        until,
        by,
        silent,
    )


async def unmute(conn: asyncpg.Connection, channel: str, chat: str, event: str | None) -> int:
    """Unmute one event (or all when ``None``); return how many mutes were lifted."""
    rows = await conn.fetch(
        "DELETE FROM chat_mutes WHERE channel=$1 AND chat_id=$2 AND ($3::text IS NULL"
        " OR event = $3) RETURNING event",
        channel,
        chat,
        event,
    )
    return len(rows)


async def mutes(conn: asyncpg.Connection, channel: str, chat: str) -> dict[str, Mute]:
    """Mutes in force in a chat, by event."""
    rows = await conn.fetch(
        "SELECT event, until, silent FROM chat_mutes WHERE channel=$1 AND chat_id=$2"
        " AND (until IS NULL OR until > clock_timestamp()) ORDER BY event",
        channel,
        chat,
    )
    return {r["event"]: Mute(r["until"], r["silent"]) for r in rows}


async def insert_alert(
    conn: asyncpg.Connection,
    event: str,
    text: str,
    *,
    stream: Stream | None = None,
    open_time: int | None = None,
    image: str | None = None,
    decision_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """Write one alert and wake the bot (``gl_alerts``); ``None`` if this market event was
    already alerted."""
    venue, symbol, tf = stream or (None, None, None)
    alert_id: int | None = await conn.fetchval(
        "INSERT INTO alerts (kind, text, decision_id, event, venue, symbol, tf, open_time,"
        " image, detail) VALUES ($1,$2,$3,$1,$4,$5,$6,$7,$8,$9)"
        " ON CONFLICT (venue, symbol, tf, open_time, event) WHERE venue IS NOT NULL DO NOTHING"
        " RETURNING id",
        event,
        text,
        decision_id,
        venue,
        symbol,
        tf,
        open_time,
        image,
        detail or {},
    )
    if alert_id is not None:
        await notify(conn, NotifyChannel.ALERTS, alert_id)
    return alert_id


async def pending_for_chat(
    conn: asyncpg.Connection, channel: str, chat: str, max_age: timedelta
) -> list[dict[str, Any]]:
    """Alerts not yet handled for this chat, oldest first: team alerts, and market alerts of
    streams the chat watched when the alert was written. Older than ``max_age``: stale."""
    rows = await conn.fetch(
        "SELECT a.id, a.kind, a.event, a.text, a.decision_id, a.venue, a.symbol, a.tf,"
        " a.open_time, a.image, a.detail, a.created_at,"
        " extract(epoch FROM clock_timestamp() - a.created_at)::float8 AS age FROM alerts a"
        " WHERE a.created_at > clock_timestamp() - $3::interval"
        " AND NOT EXISTS (SELECT 1 FROM alert_chat_deliveries d WHERE d.alert_id = a.id"
        "   AND d.channel = $1 AND d.chat_id = $2)"
        " AND (a.venue IS NULL OR EXISTS (SELECT 1 FROM chat_watches w WHERE w.channel = $1"
        "   AND w.chat_id = $2 AND w.venue = a.venue AND w.symbol = a.symbol AND w.tf = a.tf"
        "   AND w.created_at <= a.created_at))"
        " ORDER BY a.id LIMIT 50",
        channel,
        chat,
        max_age,
    )
    return [dict(r) for r in rows]


async def watching_chats(conn: asyncpg.Connection, channel: str) -> list[str]:
    """Chats of ``channel`` with at least one subscription."""
    rows = await conn.fetch("SELECT DISTINCT chat_id FROM chat_watches WHERE channel=$1", channel)
    return [str(r["chat_id"]) for r in rows]


async def mark(
    conn: asyncpg.Connection, ids: list[int], channel: str, chat: str, outcome: str
) -> None:
    """Record what happened to alerts in one chat (``sent``, ``muted``, ``filtered``,
    ``failed``): none of them is considered again there."""
    await conn.executemany(
        "INSERT INTO alert_chat_deliveries (alert_id, channel, chat_id, outcome)"
        " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
        [(i, channel, chat, outcome) for i in ids],
    )
