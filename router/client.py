"""HTTP client for the router API (used by the bot)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from greenlight.core.contracts import KillRequest, ResumeRequest, RouteRequest
from greenlight.core.trace import HEADER, current_trace


class RouterError(RuntimeError):
    """The router refused a request or could not be reached; ``reason`` says why."""

    def __init__(self, reason: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


class RouterClient:
    """Calls ``/v1/*`` on the router with the bearer token."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the underlying HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _with_trace(self) -> dict[str, str]:
        trace = current_trace()  # the decision's trace travels with the request
        return {**self._headers, HEADER: trace} if trace else self._headers

    async def _call(self, method: str, path: str, body: Mapping[str, object] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(
                method, self.base_url + path, json=body, headers=self._with_trace()
            ) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RouterError(f"router unreachable: {exc!r}") from exc
        if status >= 400 or not isinstance(data, dict) or not data.get("ok"):
            reason = data.get("reason") if isinstance(data, dict) else None
            raise RouterError(str(reason or f"HTTP {status}"), status, data)
        return data

    async def submit_bracket(self, decision_id: int) -> dict[str, Any]:
        """Ask the router to route an APPROVED decision."""
        body: RouteRequest = {"decision_id": decision_id}
        result: dict[str, Any] = await self._call("POST", "/v1/brackets", body)
        return result

    async def kill(self, flatten: bool, by: str) -> dict[str, Any]:
        """Halt trading (and close positions when ``flatten``)."""
        body: KillRequest = {"flatten": flatten, "by": by}
        result: dict[str, Any] = await self._call("POST", "/v1/kill", body)
        return result

    async def resume(self, by: str) -> dict[str, Any]:
        """Re-enable trading."""
        body: ResumeRequest = {"by": by}
        result: dict[str, Any] = await self._call("POST", "/v1/resume", body)
        return result

    async def state(self) -> dict[str, Any]:
        """The router's state snapshot."""
        result: dict[str, Any] = await self._call("GET", "/v1/state")
        return result
