"""One ``trace_id`` from a candle to its signal, decision, approval, orders, fills and close.

The id is derived from the candle a decision was made on — ``(venue, symbol, tf, open_time)``
— so every process computes the same id without being told: the engine while it analyses
the candle, PostgreSQL when the decision row is inserted (a trigger fills
``decisions.trace_id`` the same way, migration 0006), the bot and the router from the
decision row when a NOTIFY names it. Between bot and router it also travels in the
``X-Greenlight-Trace`` HTTP header. While bound (:func:`bind_trace`, :func:`traced`), every
log line carries it (structlog contextvars, see :mod:`greenlight.core.logs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg
import structlog
from aiohttp import web

T = TypeVar("T")
HEADER = "X-Greenlight-Trace"


def trace_id_for(venue: str, symbol: str, tf: str, open_time: int) -> str:
    """The trace id of the candle ``(venue, symbol, tf, open_time)`` (16 hex digits; the SQL
    twin is ``gl_trace_id`` in migration 0006)."""
    key = f"{venue}:{symbol}:{tf}:{open_time}".encode()
    return hashlib.md5(key, usedforsecurity=False).hexdigest()[:16]


def current_trace() -> str | None:
    """The trace id bound in this context, if any."""
    value = structlog.contextvars.get_contextvars().get("trace_id")
    return str(value) if value else None


def bind_trace(trace_id: str | None) -> None:
    """Bind ``trace_id`` for the rest of this task's context (``None``: unbind)."""
    if trace_id:
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
    else:
        structlog.contextvars.unbind_contextvars("trace_id")


async def traced(trace_id: str | None, work: Awaitable[T]) -> T:
    """Await ``work`` with ``trace_id`` bound, then restore what was bound before."""
    tokens = structlog.contextvars.bind_contextvars(trace_id=trace_id) if trace_id else None
    try:
        return await work
    finally:
        if tokens is not None:
            structlog.contextvars.reset_contextvars(**tokens)


async def decision_trace(pool: asyncpg.Pool, decision_id: int) -> str | None:
    """The stored trace id of a decision (``None`` when it does not exist)."""
    async with pool.acquire() as conn:
        value = await conn.fetchval("SELECT trace_id FROM decisions WHERE id = $1", decision_id)
    return str(value) if value else None


async def in_decision_trace(pool: asyncpg.Pool, decision_id: int, work: Awaitable[T]) -> T:
    """Await ``work`` with the trace of ``decision_id`` bound (looked up in the database)."""
    return await traced(await decision_trace(pool, decision_id), work)


def decision_of_client_id(client_order_id: str) -> int | None:
    """The decision id in a client order id ``gl-<decision>-<leg>``, if it is one of ours."""
    parts = client_order_id.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "gl" and parts[1].isdigit() else None


def trace_middleware(pool: asyncpg.Pool) -> Any:
    """aiohttp middleware binding the request's trace: the ``X-Greenlight-Trace`` header, or
    for ``POST /v1/brackets`` without one, the trace of the decision in the body."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        trace = request.headers.get(HEADER)
        if not trace and request.method == "POST" and request.path == "/v1/brackets":
            try:
                body = await request.json()
                did = body.get("decision_id") if isinstance(body, dict) else None
                if isinstance(did, int):
                    trace = await decision_trace(pool, did)
            except (ValueError, asyncpg.PostgresError):
                trace = None  # the handler reports a bad body itself
        result: web.StreamResponse = await traced(trace, handler(request))
        return result

    return middleware
