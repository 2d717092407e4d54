"""``greenlight status``: the system at a glance in the terminal.

Processes (each one's ``/healthz`` and ``/readyz``), the database, the venue, market-data lag
per stream, the kill switch and the guards. Read-only; exits 1 when something is down.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from greenlight.core.db import DatabaseError, connect, database_url, where
from greenlight.core.settings import Settings
from greenlight.core.venue_urls import venue_endpoints

PROCESSES = ("sim", "paper", "router", "engine", "bot")


async def _probe(http: aiohttp.ClientSession, url: str) -> tuple[int | None, Any]:
    try:
        async with http.get(url) as resp:
            return resp.status, await resp.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        return None, str(exc) or type(exc).__name__


async def _processes(settings: Settings, http: aiohttp.ClientSession) -> tuple[list[str], bool]:
    lines, ok = [], True
    host = settings.metrics.host
    for proc in PROCESSES:
        if proc in ("sim", "paper") and settings.venue.name != proc:
            continue
        port = getattr(settings.metrics, f"{proc}_port")
        if not port:
            lines.append(f"  {proc:<7} ? (metrics.{proc}_port = 0: no health endpoint)")
            continue
        status, _ = await _probe(http, f"http://{host}:{port}/healthz")
        if status != 200:
            ok = False
            lines.append(f"  {proc:<7} DOWN (nothing answers on {host}:{port})")
            continue
        rstatus, ready = await _probe(http, f"http://{host}:{port}/readyz")
        reason = ready.get("reason", "") if isinstance(ready, dict) else str(ready)
        state = "ready" if rstatus == 200 else f"NOT READY: {reason}"
        ok = ok and rstatus == 200
        lines.append(f"  {proc:<7} up, {state}  (http://{host}:{port}/metrics)")
    return lines, ok


async def _venue(settings: Settings, http: aiohttp.ClientSession) -> tuple[str, bool]:
    ep = venue_endpoints(settings)
    started = time.perf_counter()
    status, body = await _probe(http, f"{ep.rest}/api/v3/time")
    ms = (time.perf_counter() - started) * 1000
    if status == 200:
        return f"{settings.venue.name} at {ep.rest}: reachable ({ms:.0f} ms)", True
    return f"{settings.venue.name} at {ep.rest}: NOT reachable ({status or body})", False


async def _database(settings: Settings) -> tuple[list[str], bool]:
    url = database_url(settings)
    try:
        conn = await connect(url)
    except DatabaseError as exc:
        return [f"Database  DOWN: {exc}"], False
    try:
        version = await conn.fetchval("SELECT max(version) FROM schema_migrations")
        schema = await conn.fetchval("SELECT current_schema()")
        lines = [f"Database  {where(url)}: up, schema {version} (records in {schema!r})"]
        enabled = await conn.fetchval("SELECT value FROM control WHERE key = 'trading_enabled'")
        lines.append("Kill switch  " + ("off (trading ON)" if enabled is True else "ENGAGED"))
        lines.append("Lag (newest closed candle per stream):")
        rows = await conn.fetch(
            "SELECT venue, symbol, tf, max(open_time) AS t, max(received_at) AS r,"
            " extract(epoch FROM clock_timestamp() - max(received_at))::float8 AS age"
            " FROM candles GROUP BY venue, symbol, tf ORDER BY venue, symbol, tf"
        )
        lines += [
            f"  {r['venue']} {r['symbol']} {r['tf']}: last received {r['age']:.0f} s ago"
            for r in rows
        ] or ["  no candles yet"]
        guards = await conn.fetch(
            "SELECT name, venue, symbol, enabled, status FROM guard_state"
            " ORDER BY venue, symbol, name"
        )
        lines.append("Guards (the engine's verdict per stream):")
        lines += [
            f"  {g['symbol']} ({g['venue']}) {g['name']}: {'on' if g['enabled'] else 'off'},"
            f" {g['status']}"
            for g in guards
        ] or ["  (no guard rows yet; the router's trip checks: drawdown, stale data, venue)"]
        return lines, True
    finally:
        await conn.close()


async def status_report(settings: Settings) -> tuple[str, bool]:
    """The report's text and whether everything is up."""
    timeout = aiohttp.ClientTimeout(total=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        procs, procs_ok = await _processes(settings, http)
        venue, venue_ok = await _venue(settings, http)
    db_lines, db_ok = await _database(settings)
    text = "\n".join(["Processes:", *procs, f"Venue     {venue}", *db_lines])
    return text, procs_ok and venue_ok and db_ok


def run_status(settings: Settings) -> int:
    """``greenlight status``: print the report; exit 1 when something is down."""
    text, ok = asyncio.run(status_report(settings))
    print(text)
    return 0 if ok else 1
