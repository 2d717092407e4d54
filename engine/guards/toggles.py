"""Admins' guard switches (``guard_toggles``): a guard is off only as a bounded bypass.

``/guard NAME off [DURATION]`` sets ``bypass_until`` (default 1 h, at most 24 h); ``/guard
NAME on`` clears it; a scheduler job clears bypasses that ran out and says so in every chat.
The engine reads the active bypasses in each candle's transaction, so a toggle counts from
the next candle, and a bypass past its end is ignored even before the job cleared it (the
bound is the database clock: a human's switch is wall-clock time, the only wall clock the
decision path consults). Every change is audited and announced.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import asyncpg

from engine.guards.verdict import GUARD_NAMES, LABELS
from greenlight.core.store import alert, audit

DEFAULT_BYPASS = timedelta(hours=1)
MAX_BYPASS = timedelta(hours=24)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class ToggleError(ValueError):
    """A guard switch request is not valid; the message says why."""


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1h30m``, ``1d`` → a duration; :class:`ToggleError` otherwise."""
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ToggleError(f"duration {text!r} is not like 30m, 2h, 1h30m or 1d")
    days, hours, mins = (int(g or 0) for g in m.groups())
    return timedelta(days=days, hours=hours, minutes=mins)


def check_name(name: str) -> str:
    """A guard name (``news``, ``funding``, ``vol``; ``volatility`` accepted)."""
    n = name.strip().lower()
    n = "vol" if n == "volatility" else n
    if n not in GUARD_NAMES:
        raise ToggleError(f"unknown guard {name!r}; one of {', '.join(GUARD_NAMES)}")
    return n


async def bypassed(conn: asyncpg.Connection) -> frozenset[str]:
    """Guards an admin has switched off right now."""
    rows = await conn.fetch("SELECT name FROM guard_toggles WHERE bypass_until > clock_timestamp()")
    return frozenset(str(r["name"]) for r in rows)


async def switch_off(
    conn: asyncpg.Connection, name: str, duration: timedelta | None, by: str
) -> datetime:
    """Bypass guard ``name`` for ``duration`` (default 1 h, at most 24 h): audited and
    announced; return when it turns itself back on."""
    name = check_name(name)
    span = DEFAULT_BYPASS if duration is None else duration
    if span <= timedelta(0) or span > MAX_BYPASS:
        raise ToggleError(f"a bypass lasts more than 0 and at most {MAX_BYPASS} (got {span})")
    async with conn.transaction():
        until: datetime = await conn.fetchval(
            "UPDATE guard_toggles SET bypass_until = clock_timestamp() + $2::interval,"
            " changed_by = $3, changed_at = clock_timestamp() WHERE name = $1"
            " RETURNING bypass_until",
            name,
            span,
            by,
        )
        await audit(
            conn, by, "guard.off", None, {"guard": name, "until": until.isoformat(), "by": by}
        )
        await alert(
            conn,
            "guard",
            f"⚠️ {LABELS[name]} guard OFF by {by} until {until:%Y-%m-%d %H:%M} UTC"
            f" ({_span(span)}); it turns itself back on then.",
        )
    return until


async def switch_on(conn: asyncpg.Connection, name: str, by: str) -> bool:
    """End a bypass now; ``False`` when the guard was already on (nothing announced)."""
    name = check_name(name)
    async with conn.transaction():
        was = await conn.fetchval(
            "SELECT coalesce(bypass_until > clock_timestamp(), FALSE) FROM guard_toggles"
            " WHERE name = $1 FOR UPDATE",
            name,
        )
        await conn.execute(
            "UPDATE guard_toggles SET bypass_until = NULL, changed_by = $2,"
            " changed_at = clock_timestamp() WHERE name = $1",
            name,
            by,
        )
        if not was:
            return False
        await audit(conn, by, "guard.on", None, {"guard": name, "by": by})
        await alert(conn, "guard", f"✅ {LABELS[name]} guard back ON (by {by}).")
    return True


async def expire(conn: asyncpg.Connection) -> list[str]:
    """Turn back on every guard whose bypass ran out; audited and announced."""
    async with conn.transaction():
        rows = await conn.fetch(
            "UPDATE guard_toggles SET bypass_until = NULL, changed_by = 'system',"
            " changed_at = clock_timestamp() WHERE bypass_until <= clock_timestamp()"
            " RETURNING name"
        )
        names = sorted(str(r["name"]) for r in rows)
        for name in names:
            await audit(conn, "system", "guard.on", None, {"guard": name, "by": "expiry"})
            await alert(conn, "guard", f"✅ {LABELS[name]} guard back ON (bypass ended).")
    return names


async def toggles(conn: asyncpg.Connection) -> dict[str, tuple[datetime | None, str]]:
    """Per guard: the end of an active bypass (``None`` when on) and who changed it last."""
    rows = await conn.fetch(
        "SELECT name, CASE WHEN bypass_until > clock_timestamp() THEN bypass_until END AS until,"
        " changed_by FROM guard_toggles ORDER BY name"
    )
    return {str(r["name"]): (r["until"], str(r["changed_by"])) for r in rows}


def _span(d: timedelta) -> str:
    minutes = int(d.total_seconds()) // 60
    hours, mins = divmod(minutes, 60)
    return f"{hours}h{mins:02d}" if hours else f"{mins}m"
