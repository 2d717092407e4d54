"""Market WebSockets (``/ws/<stream>``, ``/stream?streams=``) and legacy listenKey streams."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from sim.spot.state import STATE, SimState
from sim.streams.conn import Conn, dumps
from sim.streams.hubs import MarketHub, UserSub

PING_INTERVAL: web.AppKey[float] = web.AppKey("ws_ping_interval", float)
FUT_PING_INTERVAL: web.AppKey[float] = web.AppKey("futures_ws_ping_interval", float)
MAX_AGE: web.AppKey[float] = web.AppKey("ws_max_age", float)
SPOT_MSGS_PER_S = 5
FUTURES_MSGS_PER_S = 10


async def serve_conn(
    request: web.Request, conn_streams: set[str], combined: bool, hub: MarketHub | None = None
) -> web.StreamResponse:
    """Run one market-stream connection (spot hub unless ``hub``) until it ends.

    Binance rules: closed after ``ws_max_age`` (24 h, compressible); more incoming messages
    per second than allowed (5 spot, 10 futures) closes the connection."""
    st = request.app[STATE]
    market = hub if hub is not None else st.market
    cap = SPOT_MSGS_PER_S if hub is None else FUTURES_MSGS_PER_S
    ping = request.app[PING_INTERVAL] if hub is None else request.app[FUT_PING_INTERVAL]
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


async def ws_raw(request: web.Request) -> web.StreamResponse:
    """``/ws`` and ``/ws/<stream>`` (a listenKey there opens its user-data stream)."""
    st = request.app[STATE]
    name = request.match_info.get("stream", "")
    if name and name in st.listen_keys:
        return await serve_listen_key(request, st, st.listen_keys[name])
    if name and st.futures is not None and st.futures.listen_keys.owner(name) is not None:
        from sim.usdm.streams import serve_private  # legacy futures user-data path

        return await serve_private(request, name)
    return await serve_conn(request, {name} if name else set(), False)


async def ws_combined(request: web.Request) -> web.StreamResponse:
    """``/stream?streams=a/b`` (frames wrapped as ``{"stream", "data"}``)."""
    names = {s for s in request.query.get("streams", "").split("/") if s}
    return await serve_conn(request, names, True)


async def serve_listen_key(request: web.Request, st: SimState, account: str) -> web.StreamResponse:
    """Legacy user-data stream: raw (unwrapped) events of one account."""
    ws = web.WebSocketResponse(heartbeat=request.app[PING_INTERVAL])
    await ws.prepare(request)
    conn = Conn(ws, request)
    st.users.add(UserSub(conn, account, None))
    writer = asyncio.create_task(conn.writer())
    try:
        async for _ in ws:
            pass
    finally:
        st.users.remove_conn(conn)
        await stop_writer(conn, writer)
    return ws


def add_routes(app: web.Application) -> None:
    """Register the market stream endpoints."""
    app.router.add_get("/ws", ws_raw)
    app.router.add_get("/ws/{stream}", ws_raw)
    app.router.add_get("/stream", ws_combined)
