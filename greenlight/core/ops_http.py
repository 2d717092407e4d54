"""Each process's operations endpoint: ``/metrics`` (Prometheus text format), ``/healthz``
(the event loop answers) and ``/readyz`` (the process has finished starting and serves).

Served by aiohttp inside the process's own event loop, so a ``/healthz`` answer proves the loop
is not blocked. Ports come from ``[metrics]`` (``engine_port``, ``bot_port``, ``router_port``,
``sim_port``, ``paper_port``; 0 disables), bound to ``metrics.host`` (loopback by default).
Observability never stops trading: a busy metrics port is one clear warning naming the
setting, and the process runs on without the endpoint (``greenlight up`` refuses to start on a
busy port instead).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Literal

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from greenlight.core.readiness import READINESS, Readiness
from greenlight.core.settings import Settings
from greenlight.core.startup import bind_problem

log = logging.getLogger(__name__)
Process = Literal["engine", "bot", "router", "sim", "paper"]


def metrics_port(settings: Settings, process: Process) -> int:
    """The configured ``/metrics`` port of ``process`` (0: disabled)."""
    port: int = getattr(settings.metrics, f"{process}_port")
    return port


async def with_ops(ops: OpsServer | None, work: Awaitable[None]) -> None:
    """Serve ``ops`` (when not ``None``) while ``work`` runs."""
    if ops is not None:
        await ops.start()
    try:
        await work
    finally:
        if ops is not None:
            await ops.stop()


class OpsServer:
    """The ``/metrics``, ``/healthz`` and ``/readyz`` endpoint of one process."""

    def __init__(
        self,
        process: str,
        host: str,
        port: int,
        registry: CollectorRegistry = REGISTRY,
        readiness: Readiness = READINESS,
    ) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.registry = registry
        self.readiness = readiness
        self.started_at = time.time()
        self._runner: web.AppRunner | None = None

    @classmethod
    def for_process(cls, settings: Settings, process: Process) -> OpsServer | None:
        """The server ``[metrics]`` asks for, or ``None`` when its port is 0."""
        port = metrics_port(settings, process)
        return cls(process, settings.metrics.host, port) if port else None

    @property
    def bound_port(self) -> int:
        """The port actually listened on (differs from ``port`` when that was 0)."""
        assert self._runner is not None and self._runner.addresses
        return int(self._runner.addresses[0][1])

    async def start(self) -> bool:
        """Listen; on a busy port log one clear warning and return False (no endpoint)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            problem = bind_problem(exc, self.host, self.port, f"metrics.{self.process}_port")
            log.warning("%s; running without /metrics", problem or exc)
            return False
        self._runner = runner
        log.info("%s: /metrics /healthz /readyz on %s:%d", self.process, self.host, self.port)
        return True

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        uptime = round(time.time() - self.started_at, 3)
        return web.json_response({"process": self.process, "status": "ok", "uptime_s": uptime})

    async def _readyz(self, request: web.Request) -> web.Response:
        r = self.readiness
        body = {"process": self.process, "ready": r.ready, "reason": r.reason, "since": r.since}
        return web.json_response(body, status=200 if r.ready else 503)
