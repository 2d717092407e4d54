"""The router's HTTP API (aiohttp, loopback only, bearer token)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from greenlight.core.contracts import KillRequest, ResumeRequest, RouteRequest
from greenlight.core.db_outage import db_unavailable
from router import brackets, store
from router.brackets import RouteRefused
from router.killswitch import KillSwitch

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StateFn = Callable[[], Awaitable[dict[str, Any]]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(store.jsonable(data)), status=status, content_type="application/json"
    )


def _refuse(status: int, reason: str, **extra: Any) -> web.Response:
    return _json({"ok": False, "reason": reason, **extra}, status)


class BadInput(ValueError):
    """A request body the API cannot accept; answered with HTTP 400 and the reason."""


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    if name not in data:
        if required:
            raise BadInput(f"field {name!r} is required")
        return None
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(f"field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise BadInput(f"field {name!r} must not be empty")
    return value


def build_app(core: Any, kill: KillSwitch, state: StateFn, token: str) -> web.Application:
    """The aiohttp application with auth middleware and the ``/v1`` routes."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not token or not hmac.compare_digest(given, expected):
            return _refuse(401, "missing or invalid bearer token")
        try:
            return await handler(request)
        except BadInput as exc:
            return _refuse(400, str(exc))
        except Exception as exc:
            if not db_unavailable(exc):
                raise
            log.warning("%s %s: database unavailable (%s)", request.method, request.path, exc)
            return _refuse(503, f"database unavailable, try again shortly ({exc})")

    async def submit(request: web.Request) -> web.Response:
        body = RouteRequest(decision_id=_field(await _body(request), "decision_id", int))
        decision_id = body["decision_id"]
        try:
            result = await brackets.route(core, decision_id)
        except RouteRefused as exc:
            return _refuse(exc.status, exc.reason, state=exc.state, decision_id=decision_id)
        return _json({"ok": True, **result})

    async def kill_route(request: web.Request) -> web.Response:
        data = await _body(request)
        kill_body = KillRequest(
            flatten=_field(data, "flatten", bool, required=False) or False,
            by=_field(data, "by", str),
        )
        return _json({"ok": True, **await kill.kill(kill_body["flatten"], kill_body["by"])})

    async def resume(request: web.Request) -> web.Response:
        resume_body = ResumeRequest(by=_field(await _body(request), "by", str))
        return _json({"ok": True, **await kill.resume(resume_body["by"])})

    async def get_state(request: web.Request) -> web.Response:
        return _json({"ok": True, **await state()})

    app = web.Application(middlewares=[auth], client_max_size=64 * 1024)
    app.router.add_post("/v1/brackets", submit)
    app.router.add_post("/v1/kill", kill_route)
    app.router.add_post("/v1/resume", resume)
    app.router.add_get("/v1/state", get_state)
    return app
