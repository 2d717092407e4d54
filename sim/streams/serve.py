"""Serving one market-stream WebSocket (spot and USD-M): Binance's connection rules (ping
interval, maximum age, incoming message rate) and its control messages (``SUBSCRIBE``,
``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` / ``GET_PROPERTY combined``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from sim.streams.conn import Conn, dumps
from sim.streams.hubs import MarketHub

PING_INTERVAL: web.AppKey[float] = web.AppKey("ws_ping_interval", float)
FUT_PING_INTERVAL: web.AppKey[float] = web.AppKey("futures_ws_ping_interval", float)
MAX_AGE: web.AppKey[float] = web.AppKey("ws_max_age", float)
SPOT_MSGS_PER_S = 5
FUTURES_MSGS_PER_S = 10


async def serve_conn(
    request: web.Request,
    conn_streams: set[str],
    combined: bool,
    market: MarketHub,
    futures: bool = False,
) -> web.StreamResponse:
    """Run one market-stream connection of ``market`` (a USD-M one when ``futures``) until it
    ends.

    Binance rules: closed after ``ws_max_age`` (24 h, compressible); more incoming messages
    per second than allowed (5 spot, 10 futures) closes the connection."""
    cap = FUTURES_MSGS_PER_S if futures else SPOT_MSGS_PER_S
    ping = request.app[FUT_PING_INTERVAL] if futures else request.app[PING_INTERVAL]
    ws = web.WebSocketResponse(heartbeat=ping)
    await ws.prepare(request)
    conn = Conn(ws, request, set(conn_streams), combined)
    market.conns.add(conn)
    writer = asyncio.create_task(conn.writer())
    timer = asyncio.get_running_loop().call_later(request.app[MAX_AGE], conn.close_after)
    recent: deque[float] = deque()
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            now = time.monotonic()
            recent.append(now)
            while recent and recent[0] < now - 1.0:
                recent.popleft()
            if len(recent) > cap:
                conn.close_after()
                break
            reply = control_reply(conn, msg.data)
            if reply is not None:
                conn.send(dumps(reply))
    finally:
        timer.cancel()
        market.conns.discard(conn)
        await stop_writer(conn, writer)
    return ws


async def stop_writer(conn: Conn, writer: asyncio.Task[None]) -> None:
    if not conn.queue.full():
        conn.queue.put_nowait(None)
    else:
        writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer


def _stream_list(params: Any) -> list[str] | None:
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return None
    return list(params)


def control_reply(conn: Conn, text: str) -> dict[str, Any] | None:
    """Answer a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / *_PROPERTY message."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return {"code": 3, "msg": f"Invalid JSON: {exc}", "id": None}
    if not isinstance(msg, dict):
        return {"code": 3, "msg": "Invalid JSON: expected an object", "id": None}
    rid, method, params = msg.get("id"), msg.get("method"), msg.get("params", [])
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        names = _stream_list(params)
        if names is None:
            return {
                "code": 2,
                "msg": "Invalid request: params must be a list of streams",
                "id": rid,
            }
        if method == "SUBSCRIBE":
            conn.streams.update(names)
        else:
            conn.streams.difference_update(names)
        return {"result": None, "id": rid}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": rid}
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(conn, method, params, rid)
    return {"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": rid}


def _property(conn: Conn, method: str, params: Any, rid: Any) -> dict[str, Any]:
    if not isinstance(params, list) or not params or params[0] != "combined":
        return {"code": 0, "msg": "Unknown property", "id": rid}
    if method == "GET_PROPERTY":
        return {"result": conn.combined, "id": rid}
    if len(params) != 2 or not isinstance(params[1], bool):
        return {"code": 1, "msg": "Invalid value type: expected Boolean", "id": rid}
    conn.combined = params[1]
    return {"result": None, "id": rid}
