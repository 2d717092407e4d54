"""Scripted failures for tests of clients' error paths (set through ``/sim/admin/faults``).

Kinds: ``rate_limit`` (HTTP 429, ``-1003``, ``Retry-After``), ``ban`` (HTTP 418), and
``unknown_after`` — the request **is executed** (e.g. the order is placed) but the answer is
replaced by HTTP 503 ``-1007`` "execution status unknown", the case a router must resolve by
querying instead of re-sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sim.errors import SimError

KINDS = ("rate_limit", "ban", "unknown_after")
TOO_MANY = (
    "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
UNKNOWN = (
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown."
)


@dataclass
class Fault:
    """``count`` upcoming requests on ``path`` (any path when empty) get ``kind``."""

    kind: str
    count: int
    path: str = ""
    method: str = ""
    retry_after: int = 1


class Faults:
    """Pending faults, consumed in order of arrival."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault (``-1130`` for an unknown kind or a non-positive count)."""
        if fault.kind not in KINDS:
            raise SimError(-1130, f"fault kind must be one of {', '.join(KINDS)}")
        if fault.count < 1 or fault.retry_after < 0:
            raise SimError(-1130, "fault count must be >= 1 and retry_after >= 0")
        self.pending.append(fault)

    def take(self, request: web.Request) -> Fault | None:
        """The fault that applies to ``request`` (consuming one of its count), if any."""
        if request.path.startswith("/sim/admin"):
            return None
        for f in self.pending:
            if (f.path in ("", request.path)) and (f.method in ("", request.method)):
                f.count -= 1
                if f.count == 0:
                    self.pending.remove(f)
                return f
        return None


def before(fault: Fault) -> web.Response | None:
    """The response replacing the request before it runs (None for ``unknown_after``)."""
    headers = {"Retry-After": str(fault.retry_after)}
    if fault.kind == "rate_limit":
        return web.json_response({"code": -1003, "msg": TOO_MANY}, status=429, headers=headers)
    if fault.kind == "ban":
        msg = "Way too much request weight used; IP banned until further notice."
        return web.json_response({"code": -1003, "msg": msg}, status=418, headers=headers)
    return None


def after() -> web.Response:
    """The ``unknown_after`` answer sent once the request has been executed."""
    return web.json_response({"code": -1007, "msg": UNKNOWN}, status=503)
