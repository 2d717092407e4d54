"""A minimal signed Binance REST client for tests and demos (not used by the server)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from sim.http_util import hmac_hex


class SignedClient:
    """Sends Binance-signed requests: GET params in the query, others in a form body."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, key: str, secret: str):
        self.session = session
        self.base_url = base_url
        self.key = key
        self.secret = secret

    def sign(self, params: Mapping[str, Any], timestamp: int | None = None) -> str:
        """The url-encoded params with ``timestamp`` and ``signature`` appended."""
        items = {k: str(v) for k, v in params.items()}
        items.setdefault("timestamp", str(timestamp or int(time.time() * 1000)))
        text = urlencode(items)
        return f"{text}&signature={hmac_hex(self.secret, text)}"

    async def call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, signed: bool = True
    ) -> tuple[int, Any, Mapping[str, str]]:
        """Returns (HTTP status, decoded JSON, headers)."""
        text = self.sign(params or {}) if signed else urlencode(params or {})
        headers = {"X-MBX-APIKEY": self.key}
        url = self.base_url + path
        if method == "GET":
            kwargs: dict[str, Any] = {"params": None}
            url = f"{url}?{text}" if text else url
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            kwargs = {"data": text}
        async with self.session.request(method, url, headers=headers, **kwargs) as resp:
            return resp.status, await resp.json(), resp.headers
