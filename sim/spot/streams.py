"""Spot market WebSockets (``/ws/<stream>``, ``/stream?streams=``) and legacy listenKey
streams (a futures listenKey on ``/ws/<key>`` is served by :mod:`sim.usdm.streams`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sim.spot.state import SpotState
from sim.state import STATE
from sim.streams.conn import Conn
from sim.streams.hubs import UserSub
from sim.streams.serve import PING_INTERVAL, serve_conn, stop_writer
from sim.usdm.streams import serve_private


async def ws_raw(request: web.Request) -> web.StreamResponse:
    """``/ws`` and ``/ws/<stream>`` (a listenKey there opens its user-data stream)."""
    st = request.app[STATE]
    spot = st.spot
    name = request.match_info.get("stream", "")
    if name and name in spot.listen_keys:
        return await serve_listen_key(request, spot, spot.listen_keys[name])
    if name and st.futures is not None and st.futures.listen_keys.owner(name) is not None:
        return await serve_private(request, name)  # legacy futures user-data path
    return await serve_conn(request, {name} if name else set(), False, spot.market)


async def ws_combined(request: web.Request) -> web.StreamResponse:
    """``/stream?streams=a/b`` (frames wrapped as ``{"stream", "data"}``)."""
    names = {s for s in request.query.get("streams", "").split("/") if s}
    return await serve_conn(request, names, True, request.app[STATE].spot.market)


async def serve_listen_key(request: web.Request, st: SpotState, account: str) -> web.StreamResponse:
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
