"""Scripted failures for tests of clients' error paths (set through ``/sim/admin/faults``).

Request faults replace or hold REST answers (``rate_limit``, ``ban``, ``unknown_after``,
``http_5xx``, ``delay``, ``timeout``, ``recv_window``); ``partial_fill`` makes the next
matching orders fill in slices (see :mod:`sim.partial`). Every fault is bounded by ``count``
and optionally by ``seconds``; the exact JSON is documented in ``sim/README.md`` ("Faults").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from sim.errors import SimError

REQUEST_KINDS = (
    "rate_limit",
    "ban",
    "unknown_after",
    "http_5xx",
    "delay",
    "timeout",
    "recv_window",
)
KINDS = (*REQUEST_KINDS, "partial_fill")
MAX_DELAY_MS = 60_000
TOO_MANY = (
    "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
UNKNOWN = (
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown."
)
RECV_WINDOW = "Timestamp for this request is outside of the recvWindow."
STREAM_PATHS = ("/ws", "/stream", "/market", "/public", "/private", "/sim/admin")


@dataclass
class Fault:
    """One scripted failure; ``count`` upcoming matches (requests or orders) get ``kind``."""

    kind: str
    count: int = 1
    path: str = ""
    method: str = ""
    retry_after: int = 1
    seconds: float | None = None
    status: int = 503
    execute: bool = False
    delay_ms: int = 0
    slices: int = 2
    symbol: str = ""
    client_id_prefix: str = ""
    market: str = ""
    id: int = 0
    expires_at: float | None = None  # monotonic deadline derived from ``seconds``

    def matches_request(self, request: web.Request) -> bool:
        """Whether this request fault applies to ``request`` (path and method)."""
        if self.kind not in REQUEST_KINDS:
            return False
        if self.method not in ("", request.method):
            return False
        if self.path.endswith("*"):
            return request.path.startswith(self.path[:-1])
        return self.path in ("", request.path)

    def describe(self, now: float) -> dict[str, Any]:
        """The fault as listed by ``GET /sim/admin/faults``."""
        out = {k: v for k, v in asdict(self).items() if k != "expires_at"}
        left = None if self.expires_at is None else max(0.0, round(self.expires_at - now, 3))
        return out | {"seconds_left": left}


def _int(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = body.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
        raise SimError(-1130, f"fault field '{name}' must be an integer in [{lo}, {hi}].")
    return raw


def parse_fault(body: Any) -> Fault:
    """A :class:`Fault` from the admin JSON (``-1102`` / ``-1130`` naming the bad field)."""
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise SimError(-1102, 'expected a JSON object with "kind" (string).')
    kind = body["kind"]
    if kind not in KINDS:
        raise SimError(-1130, f"fault kind must be one of {', '.join(KINDS)}.")
    seconds = body.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0
    ):
        raise SimError(-1130, "fault field 'seconds' must be a positive number.")
    for name in ("path", "method", "symbol", "client_id_prefix", "market"):
        if not isinstance(body.get(name, ""), str):
            raise SimError(-1130, f"fault field '{name}' must be a string.")
    if not isinstance(body.get("execute", False), bool):
        raise SimError(-1130, "fault field 'execute' must be true or false.")
    market = str(body.get("market", ""))
    if market not in ("", "spot", "futures"):
        raise SimError(-1130, "fault field 'market' must be 'spot' or 'futures'.")
    default_delay = 5000 if kind == "timeout" else 0
    delay = _int(body, "delay_ms", default_delay, 1 if kind == "delay" else 0, MAX_DELAY_MS)
    if kind == "delay" and "delay_ms" not in body:
        raise SimError(
            -1102, "Mandatory parameter 'delay_ms' was not sent, was empty/null, or malformed."
        )
    return Fault(
        kind=kind,
        count=_int(body, "count", 1, 1, 1_000_000),
        path=str(body.get("path", "")),
        method=str(body.get("method", "")).upper(),
        retry_after=_int(body, "retry_after", 1, 0, 259_200),
        seconds=float(seconds) if seconds is not None else None,
        status=_int(body, "status", 503, 500, 599),
        execute=bool(body.get("execute", False)),
        delay_ms=delay,
        slices=_int(body, "slices", 2, 2, 100),
        symbol=str(body.get("symbol", "")).upper(),
        client_id_prefix=str(body.get("client_id_prefix", "")),
        market=market,
    )


class Faults:
    """Pending faults, consumed in order of arrival; expired ones are dropped lazily."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self._next_id = 1

    def add(self, fault: Fault) -> Fault:
        """Queue a fault (validated by :func:`parse_fault` or constructed in code)."""
        if fault.kind not in KINDS:
            raise SimError(-1130, f"fault kind must be one of {', '.join(KINDS)}")
        if fault.count < 1 or fault.retry_after < 0:
            raise SimError(-1130, "fault count must be >= 1 and retry_after >= 0")
        fault.id = self._next_id
        self._next_id += 1
        if fault.seconds is not None:
            fault.expires_at = time.monotonic() + fault.seconds
        self.pending.append(fault)
        return fault

    def live(self) -> list[Fault]:
        """Faults not yet expired (expired ones are removed)."""
        now = time.monotonic()
        self.pending = [f for f in self.pending if f.expires_at is None or f.expires_at > now]
        return self.pending

    def consume(self, fault: Fault) -> None:
        """Use one of ``fault``'s count (removing it at zero)."""
        fault.count -= 1
        if fault.count <= 0 and fault in self.pending:
            self.pending.remove(fault)

    def take(self, request: web.Request, signed: bool = True) -> Fault | None:
        """The request fault that applies to ``request`` (consuming one of its count).
        ``recv_window`` faults only match signed requests."""
        if request.path.startswith(STREAM_PATHS):
            return None
        for f in self.live():
            if f.matches_request(request) and (signed or f.kind != "recv_window"):
                self.consume(f)
                return f
        return None

    def pick_partial(self, market: str, symbol: str, client_id: str) -> int | None:
        """Slices for a new order on ``market`` if a ``partial_fill`` fault matches it
        (consuming one of its count), else None."""
        for f in self.live():
            if (
                f.kind == "partial_fill"
                and f.market in ("", market)
                and f.symbol in ("", symbol)
                and client_id.startswith(f.client_id_prefix)
            ):
                self.consume(f)
                return f.slices
        return None

    def clear(self) -> int:
        """Remove every fault; returns how many there were."""
        n = len(self.pending)
        self.pending.clear()
        return n

    def describe(self) -> list[dict[str, Any]]:
        """Every live fault as listed by ``GET /sim/admin/faults``."""
        now = time.monotonic()
        return [f.describe(now) for f in self.live()]


def before(fault: Fault) -> web.Response | None:
    """The response replacing the request before it runs (None when it must run first)."""
    headers = {"Retry-After": str(fault.retry_after)}
    if fault.kind == "rate_limit":
        return web.json_response({"code": -1003, "msg": TOO_MANY}, status=429, headers=headers)
    if fault.kind == "ban":
        msg = "Way too much request weight used; IP banned until further notice."
        return web.json_response({"code": -1003, "msg": msg}, status=418, headers=headers)
    if fault.kind == "recv_window":
        return web.json_response({"code": -1021, "msg": RECV_WINDOW}, status=400)
    if fault.kind == "http_5xx" and not fault.execute:
        return server_error(fault.status)
    return None


def server_error(status: int) -> web.Response:
    """A 5xx answer: ``-1007`` (outcome unknown) for 503/504, ``-1000`` otherwise."""
    if status in (503, 504):
        return web.json_response({"code": -1007, "msg": UNKNOWN}, status=status)
    msg = "An unknown error occurred while processing the request."
    return web.json_response({"code": -1000, "msg": msg}, status=status)


def after() -> web.Response:
    """The ``unknown_after`` answer sent once the request has been executed."""
    return web.json_response({"code": -1007, "msg": UNKNOWN}, status=503)
