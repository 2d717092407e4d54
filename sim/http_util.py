"""HTTP plumbing shared by the REST handlers: parameters, signatures, weights, errors."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from aiohttp import web

from sim.errors import SimError, illegal_chars, mandatory
from sim.replay.clock import wall_ms

Params = dict[str, str]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
API_KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,128}$")
MAX_RECV_WINDOW = 60000


def error_response(err: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"code", "msg"}`` with the error's HTTP status."""
    return web.json_response({"code": err.code, "msg": err.msg}, status=err.status, headers=headers)


def _parse_source(raw: str) -> Params:
    out: Params = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        if k in out:
            raise SimError(-1101, "Duplicate values for a parameter detected.")
        out[k] = v
    return out


async def read_params(request: web.Request) -> tuple[Params, str, str]:
    """Merged params (query wins over form body), raw query string and raw body."""
    raw_query = request.rel_url.raw_query_string
    raw_body = ""
    if request.method != "GET" and request.body_exists:
        raw_body = await request.text()
    body = _parse_source(raw_body) if raw_body and "=" in raw_body else {}
    return body | _parse_source(raw_query), raw_query, raw_body


def signature_payload(raw_query: str, raw_body: str) -> str:
    """The signed text: query string then body, each without its ``signature`` param."""

    def strip(raw: str) -> str:
        return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))

    return strip(raw_query) + strip(raw_body)


def hmac_hex(secret: str, payload: str) -> str:
    """HMAC-SHA256 of ``payload`` keyed with ``secret``, hex encoded."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_api_key(key: str | None, secrets: Mapping[str, str]) -> str:
    """Return the secret of ``key`` or raise ``-2014`` / ``-2015`` (HTTP 401)."""
    if not key or not API_KEY_FORMAT.match(key):
        raise SimError(-2014, "API-key format invalid.", 401)
    if key not in secrets:
        raise SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return secrets[key]


def check_timestamp(params: Params, server_ms: int, market_ms: int | None = None) -> None:
    """Binance rule: ``timestamp < server + 1000`` and ``server - timestamp <= recvWindow``.

    ``server_ms`` is the wall clock; a timestamp that satisfies the rule against the market
    clock ``market_ms`` instead (a client synchronised with ``serverTime``) is accepted too."""
    ts_text = params.get("timestamp", "")
    if not ts_text:
        raise mandatory("timestamp")
    try:
        ts = int(float(ts_text))
        window = int(float(params.get("recvWindow", "5000") or "5000"))
    except ValueError:
        raise SimError(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    if ts > 10**14:
        ts //= 1000
    if window <= 0 or window > MAX_RECV_WINDOW:
        raise SimError(-1131, "recvWindow must be less than 60000")
    if market_ms is not None and market_ms - window <= ts < market_ms + 1000:
        return
    if ts >= server_ms + 1000:
        raise SimError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - ts > window:
        raise SimError(-1021, "Timestamp for this request is outside of the recvWindow.")


def authenticate(
    request: web.Request,
    params: Params,
    raw_query: str,
    raw_body: str,
    secrets: Mapping[str, str],
    market_ms: int | None = None,
) -> str:
    """Check API key, signature and timestamp of a SIGNED request; returns the API key."""
    key = request.headers.get("X-MBX-APIKEY")
    secret = check_api_key(key, secrets)
    assert key is not None
    signature = params.get("signature", "")
    if not signature:
        raise mandatory("signature")
    expected = hmac_hex(secret, signature_payload(raw_query, raw_body))
    if not hmac.compare_digest(expected, signature.lower()):
        raise SimError(-1022, "Signature for this request is not valid.")
    check_timestamp(params, wall_ms(), market_ms)
    return key


def reject_unknown(params: Params, allowed: Iterable[str]) -> None:
    """``-1103`` when a parameter outside ``allowed`` (+ signing params) is present."""
    extra = set(params) - set(allowed) - {"timestamp", "recvWindow", "signature"}
    if extra:
        raise SimError(-1103, f"An unknown parameter was sent: {sorted(extra)[0]}.")


def p_str(params: Params, name: str) -> str:
    """A mandatory non-empty string parameter."""
    value = params.get(name, "")
    if not value:
        raise mandatory(name)
    return value


def p_decimal(params: Params, name: str) -> Decimal | None:
    """An optional decimal parameter (``-1100`` when not a plain decimal)."""
    text = params.get(name)
    if text is None or text == "":
        return None
    if not NUMBER.match(text):
        raise illegal_chars(name)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise illegal_chars(name) from None


def p_int(params: Params, name: str) -> int | None:
    """An optional integer parameter (``-1100`` when not an integer)."""
    text = params.get(name)
    if text is None or text == "":
        return None
    if not text.lstrip("-").isdigit():
        raise SimError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'.",
        )
    return int(text)


def p_client_id(params: Params, name: str) -> str | None:
    """An optional client order id matching Binance's pattern."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not CLIENT_ID.match(value):
        raise SimError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    return value


class Counters:
    """Order counts per account (10 s, 1 min and 1 day); weights live in sim.limits."""

    def __init__(self) -> None:
        self._orders: dict[str, deque[float]] = {}

    def add_order(self, key: str) -> tuple[int, int]:
        """Count one new order for ``key``; returns (last 10 s, last day)."""
        now = time.time()
        q = self._orders.setdefault(key, deque())
        q.append(now)
        while q and q[0] < now - 86400:
            q.popleft()
        recent = sum(1 for t in q if t >= now - 10)
        return recent, len(q)

    def recent_orders(self, key: str, seconds: float) -> int:
        """Orders counted for ``key`` in the last ``seconds``."""
        cutoff = time.time() - seconds
        return sum(1 for t in self._orders.get(key, ()) if t >= cutoff)
