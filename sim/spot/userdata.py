"""Spot WebSocket API subset at ``/ws-api/v3``: session logon and user-data subscriptions."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import WSMsgType, web

from sim.errors import SimError, mandatory
from sim.http_util import check_api_key, check_timestamp, hmac_hex
from sim.replay.clock import wall_ms
from sim.state import STATE, SimState
from sim.streams.conn import Conn, dumps
from sim.streams.hubs import UserSub
from sim.streams.serve import PING_INTERVAL, stop_writer


def ws_signature_payload(params: dict[str, Any]) -> str:
    """WS-API signing text: every param but ``signature``, sorted by name, url-encoded."""
    items = sorted((k, _text(v)) for k, v in params.items() if k != "signature")
    return urlencode(items)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def verify(st: SimState, params: Any) -> str:
    """Check ``apiKey``/``timestamp``/``signature`` of a WS-API request; returns the key."""
    if not isinstance(params, dict):
        raise mandatory("apiKey")
    key = params.get("apiKey")
    if not key:
        raise mandatory("apiKey")
    secret = check_api_key(str(key), st.secrets)
    signature = str(params.get("signature") or "")
    if not signature:
        raise mandatory("signature")
    if not hmac.compare_digest(hmac_hex(secret, ws_signature_payload(params)), signature.lower()):
        raise SimError(-1022, "Signature for this request is not valid.")
    check_timestamp({k: _text(v) for k, v in params.items()}, wall_ms(), st.spot.replay.now_ms)
    return str(key)


class Session:
    """State of one WS-API connection."""

    def __init__(self, st: SimState, conn: Conn) -> None:
        self.st = st
        self.spot = st.spot
        self.conn = conn
        self.account: str | None = None
        self.connected_since = self.spot.replay.now_ms
        self.logged_since: int | None = None

    def _subscribe(self, account: str) -> dict[str, Any]:
        if any(s.conn is self.conn and s.account == account for s in self.spot.users.subs):
            raise SimError(-1210, "This account is already subscribed on this connection.")
        sid = self.spot.users.new_subscription_id()
        self.spot.users.add(UserSub(self.conn, account, sid))
        return {"subscriptionId": sid}

    def _status(self) -> dict[str, Any]:
        return {
            "apiKey": self.account,
            "authorizedSince": self.logged_since,
            "connectedSince": self.connected_since,
            "returnRateLimits": True,
            "serverTime": self.spot.replay.now_ms,
            "userDataStream": any(s.conn is self.conn for s in self.spot.users.subs),
        }

    def call(self, method: Any, params: Any) -> Any:
        """Run one method; raises :class:`SimError` for failures."""
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.spot.replay.now_ms}
        if method == "session.logon":
            self.account = verify(self.st, params)
            self.logged_since = self.spot.replay.now_ms
            return self._status()
        if method == "session.status":
            return self._status()
        if method == "session.logout":
            self.account = self.logged_since = None
            return self._status()
        if method == "userDataStream.subscribe":
            if self.account is None:
                raise SimError(-1002, "You are not authorized to execute this request.", 401)
            return self._subscribe(self.account)
        if method == "userDataStream.subscribe.signature":
            return self._subscribe(verify(self.st, params))
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId") if isinstance(params, dict) else None
            if self.spot.users.remove(self.conn, sid) == 0:
                raise SimError(-2, "Not subscribed to user data stream.")
            return {}
        if method == "session.subscriptions":
            return [
                {"subscriptionId": s.subscription_id}
                for s in self.spot.users.subs
                if s.conn is self.conn
            ]
        raise SimError(-1100, f"Unknown method {method!r}.")

    def handle(self, text: str) -> dict[str, Any]:
        """One request frame → one response frame."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"id": None, "status": 400, "error": {"code": -2, "msg": "Invalid JSON."}}
        rid = msg.get("id") if isinstance(msg, dict) else None
        if not isinstance(msg, dict) or "method" not in msg:
            return {"id": rid, "status": 400, "error": {"code": -2, "msg": "Invalid request."}}
        limits = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
                "count": 2,
            }
        ]
        try:
            result = self.call(msg["method"], msg.get("params", {}))
        except SimError as err:
            return {
                "id": rid,
                "status": err.status,
                "error": {"code": err.code, "msg": err.msg},
                "rateLimits": limits,
            }
        return {"id": rid, "status": 200, "result": result, "rateLimits": limits}


async def ws_api(request: web.Request) -> web.StreamResponse:
    """``/ws-api/v3``."""
    st = request.app[STATE]
    ws = web.WebSocketResponse(heartbeat=request.app[PING_INTERVAL])
    await ws.prepare(request)
    conn = Conn(ws, request)
    session = Session(st, conn)
    writer = asyncio.create_task(conn.writer())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.send(dumps(session.handle(msg.data)))
    finally:
        st.spot.users.remove_conn(conn)
        await stop_writer(conn, writer)
    return ws


def add_routes(app: web.Application) -> None:
    """Register the WebSocket API endpoint."""
    app.router.add_get("/ws-api/v3", ws_api)
