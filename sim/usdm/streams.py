"""USD-M WebSockets: market streams under ``/market`` (and ``/public``), user data under
``/private/ws/<listenKey>`` (or ``/private/ws?listenKey=``), plus the listen-key expiry loop."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from sim.errors import SimError
from sim.state import STATE
from sim.streams.conn import Conn, dumps
from sim.streams.serve import FUT_PING_INTERVAL, control_reply, serve_conn, stop_writer
from sim.usdm.state import FutState, FutUserSub


def _fut(request: web.Request) -> FutState:
    fut = request.app[STATE].futures
    if fut is None:
        raise web.HTTPNotFound(text="this simulator serves no USD-M symbols")
    return fut


async def market_raw(request: web.Request) -> web.StreamResponse:
    """``/market/ws`` and ``/market/ws/<stream>``."""
    fut = _fut(request)
    name = request.match_info.get("stream", "")
    return await serve_conn(request, {name} if name else set(), False, fut.market, futures=True)


async def market_combined(request: web.Request) -> web.StreamResponse:
    """``/market/stream?streams=a/b``."""
    fut = _fut(request)
    names = {s for s in request.query.get("streams", "").split("/") if s}
    return await serve_conn(request, names, True, fut.market, futures=True)


async def private(request: web.Request) -> web.StreamResponse:
    """``/private/ws/<listenKey>`` or ``/private/ws?listenKey=…``."""
    lk = request.match_info.get("listen_key") or request.query.get("listenKey", "")
    return await serve_private(request, lk)


async def serve_private(request: web.Request, lk: str) -> web.StreamResponse:
    """Futures user-data stream of the account owning ``lk`` (raw events)."""
    fut = _fut(request)
    account = fut.listen_keys.owner(lk)
    if account is None:
        err = SimError(-1125, "This listenKey does not exist.")
        return web.json_response({"code": err.code, "msg": err.msg}, status=400)
    ws = web.WebSocketResponse(heartbeat=request.app[FUT_PING_INTERVAL])
    await ws.prepare(request)
    conn = Conn(ws, request)
    sub = FutUserSub(conn, account, lk)
    fut.users.append(sub)
    writer = asyncio.create_task(conn.writer())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                reply = control_reply(conn, msg.data)
                if reply is not None:
                    conn.send(dumps(reply))
    finally:
        if sub in fut.users:
            fut.users.remove(sub)
        await stop_writer(conn, writer)
    return ws


async def expiry_loop(fut: FutState, every: float) -> None:
    """Expire listen keys (``listenKeyExpired``) every ``every`` seconds, forever."""
    while True:
        await asyncio.sleep(every)
        fut.expire_listen_keys()


def add_routes(app: web.Application) -> None:
    """Register the futures WebSocket endpoints."""
    r = app.router
    for prefix in ("/market", "/public"):
        r.add_get(f"{prefix}/ws", market_raw)
        r.add_get(f"{prefix}/ws/{{stream}}", market_raw)
        r.add_get(f"{prefix}/stream", market_combined)
    r.add_get("/private/ws", private)
    r.add_get("/private/ws/{listen_key}", private)
