"""Loopback-only admin endpoints for tests and demos (``/sim/admin/*``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.errors import SimError
from sim.faults import parse_fault
from sim.state import STATE, SimState

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def status_of(st: SimState) -> dict[str, Any]:
    """Replay progress as reported by ``GET /sim/admin/status``."""
    r = st.spot.replay
    return {
        "replayed": r.replayed,
        "total": r.total,
        "paused": r.paused,
        "finished": r.finished,
        "open_time": r.current_open_time,
        "symbols": list(r.symbols),
        "candles_per_second": r.candles_per_second,
        "server_time": r.now_ms,
        "clock_shift_ms": r.shift_ms,
        "user_messages_sent": _user_messages_sent(st),
        "rest_requests": dict(sorted(st.requests.items())),
    } | _futures_status(st)


def _user_messages_sent(st: SimState) -> int:
    """User-data messages sent on the user-data connections open now (spot and USD-M): a
    client that handled as many on its current connections has caught up."""
    conns = {id(s.conn): s.conn for s in st.spot.users.subs}
    if st.futures is not None:
        conns |= {id(s.conn): s.conn for s in st.futures.users}
    return sum(c.user_sent for c in conns.values() if not c.ws.closed)


def _futures_status(st: SimState) -> dict[str, Any]:
    fut = st.futures
    if fut is None:
        return {}
    r = fut.replay
    return {
        "futures": {
            "replayed": r.replayed,
            "total": r.total,
            "finished": r.finished,
            "symbols": list(r.symbols),
            "clock": dict(fut.clock),
            "server_time": r.now_ms,
            "clock_shift_ms": r.shift_ms,
        }
    }


def _guard(request: web.Request) -> SimState:
    if request.remote not in LOOPBACK:
        raise SimError(-1002, "Admin endpoints are only served to loopback clients.", 403)
    return request.app[STATE]


async def pause(request: web.Request) -> web.Response:
    """``POST /sim/admin/pause``."""
    st = _guard(request)
    for r in st.replays():
        r.pause()
    return web.json_response(status_of(st))


async def resume(request: web.Request) -> web.Response:
    """``POST /sim/admin/resume``."""
    st = _guard(request)
    for r in st.replays():
        r.resume()
    return web.json_response(status_of(st))


async def speed(request: web.Request) -> web.Response:
    """``POST /sim/admin/speed`` with ``{"candles_per_second": x}``."""
    st = _guard(request)
    try:
        body = await request.json()
        value = float(body["candles_per_second"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SimError(-1102, f'expected JSON {{"candles_per_second": <number>}}: {exc}') from None
    if not value > 0 or value > 100000:
        raise SimError(-1130, "candles_per_second must be in (0, 100000].")
    for r in st.replays():
        r.set_speed(value)
    return web.json_response(status_of(st))


async def advance(request: web.Request) -> web.Response:
    """``POST /sim/admin/advance`` with ``{"ms": n}``: move every market clock ``n`` ms on
    at once (all updates in between are emitted), whether paused or not. A driver that waits
    for its clients between calls gets the same run on any machine."""
    st = _guard(request)
    try:
        body = await request.json()
        ms = int(body["ms"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SimError(-1102, f'expected JSON {{"ms": <milliseconds>}}: {exc}') from None
    if not 0 < ms <= 31 * 86_400_000:
        raise SimError(-1130, "ms must be in (0, 31 days].")
    for r in st.replays():
        r.advance(ms)
    return web.json_response(status_of(st))


async def drop_streams(request: web.Request) -> web.Response:
    """``POST /sim/admin/drop-streams``: abort every market WebSocket."""
    st = _guard(request)
    dropped = st.spot.market.drop_all()
    if st.futures is not None:
        dropped += st.futures.market.drop_all()
    return web.json_response({"dropped": dropped})


async def server_shutdown(request: web.Request) -> web.Response:
    """``POST /sim/admin/server-shutdown``: ``serverShutdown`` to every market connection,
    then close them (as before maintenance)."""
    st = _guard(request)
    hubs = [(st.spot.market, st.spot.replay)]
    if st.futures is not None:
        hubs.append((st.futures.market, st.futures.replay))
    notified = 0
    for hub, replay in hubs:
        notified += hub.shutdown_notice(replay.now_ms)
        for c in list(hub.conns):
            c.close_after()
    return web.json_response({"notified": notified})


async def status(request: web.Request) -> web.Response:
    """``GET /sim/admin/status``."""
    return web.json_response(status_of(_guard(request)))


async def faults(request: web.Request) -> web.Response:
    """``POST /sim/admin/faults`` (one fault or action, JSON in sim/README.md "Faults");
    ``DELETE`` clears every fault like ``POST /sim/admin/faults/clear``."""
    st = _guard(request)
    if request.method == "DELETE":
        return web.json_response(_clear(st) | {"pending": 0})
    try:
        body = await request.json()
    except ValueError:
        raise SimError(-1102, 'expected a JSON object with "kind" (string).') from None
    kind = body.get("kind") if isinstance(body, dict) else None
    if kind == "drop_user_streams":
        return web.json_response({"dropped": _drop_users(st)})
    if kind == "pause_user_stream":
        seconds, drop = body.get("seconds"), body.get("drop", False)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise SimError(-1102, "pause_user_stream needs 'seconds' (number).")
        if not 0 < seconds <= 600 or not isinstance(drop, bool):
            raise SimError(-1130, "'seconds' must be in (0, 600] and 'drop' true or false.")
        st.user_gate.pause(float(seconds), drop)
        return web.json_response({"paused": True, "seconds": seconds, "drop": drop})
    fault = st.faults.add(parse_fault(body))
    return web.json_response({"id": fault.id, "pending": len(st.faults.live())})


def _drop_users(st: SimState) -> int:
    dropped = st.spot.users.drop_all()
    if st.futures is not None:
        dropped += st.futures.drop_users()
    return dropped


def _clear(st: SimState) -> dict[str, Any]:
    cleared = st.faults.clear()
    if st.user_gate.until is not None:
        cleared += 1
    st.user_gate.release()
    return {"cleared": cleared}


async def list_faults(request: web.Request) -> web.Response:
    """``GET /sim/admin/faults``: live faults and the user-stream pause, if any."""
    st = _guard(request)
    items = st.faults.describe()
    pause = st.user_gate.describe()
    if pause is not None:
        items.append(pause)
    return web.json_response({"faults": items, "user_stream_paused": pause is not None})


async def clear_faults(request: web.Request) -> web.Response:
    """``POST /sim/admin/faults/clear``: remove every fault, end a user-stream pause."""
    return web.json_response(_clear(_guard(request)))


async def drop_user_streams(request: web.Request) -> web.Response:
    """``POST /sim/admin/drop-user-streams``: abort every user-data connection."""
    return web.json_response({"dropped": _drop_users(_guard(request))})


def add_routes(app: web.Application) -> None:
    """Register the admin endpoints."""
    r = app.router
    r.add_post("/sim/admin/pause", pause)
    r.add_post("/sim/admin/resume", resume)
    r.add_post("/sim/admin/speed", speed)
    r.add_post("/sim/admin/advance", advance)
    r.add_post("/sim/admin/drop-streams", drop_streams)
    r.add_post("/sim/admin/server-shutdown", server_shutdown)
    r.add_get("/sim/admin/status", status)
    r.add_post("/sim/admin/faults", faults)
    r.add_get("/sim/admin/faults", list_faults)
    r.add_post("/sim/admin/faults/clear", clear_faults)
    r.add_post("/sim/admin/drop-user-streams", drop_user_streams)
    r.add_delete("/sim/admin/faults", faults)
