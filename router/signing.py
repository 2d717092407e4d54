"""HMAC-SHA256 request signing over the exact percent-encoded payload that is sent."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode


def encode_params(params: Mapping[str, str]) -> str:
    """Percent-encode parameters in the given order, exactly as they go on the wire."""
    return urlencode(list(params.items()))


def hmac_signature(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed with ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_query(secret: str, params: Mapping[str, str]) -> str:
    """The query string with ``signature`` appended as the last parameter."""
    query = encode_params(params)
    return f"{query}&signature={hmac_signature(secret, query)}"


def ws_signature(secret: str, params: Mapping[str, str]) -> str:
    """Signature for a WebSocket API request: parameters sorted alphabetically, then signed."""
    payload = encode_params({k: params[k] for k in sorted(params)})
    return hmac_signature(secret, payload)
