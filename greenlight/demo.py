"""``greenlight demo``: the real system, unattended, on a private database, with a JSON report.

Every process is the real one (sim, router, engine, bot with ``--auto-approve``). The replay
runs as fast as the pipeline takes it; while a decision is between "written" and "bracket
resting on the exchange" the replay is held, so fills reflect the decision's prices.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import asyncpg

from engine.db import connect, migrate, start_embedded, stop_embedded
from engine.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from engine.settings import Settings
from greenlight import report
from greenlight.procs import ProcessGroup, child_env, free_port, router_token, wait_port


class DemoError(RuntimeError):
    """The demo could not complete; the message says why."""


def run_demo(
    settings: Settings,
    candles: int,
    auto_approve: bool,
    report_path: str,
    speed: float,
    timeout: float,
    keep: bool = False,
    futures_symbols: tuple[str, ...] = ("XRPUSDT",),
) -> int:
    """Run the demo; write the report; return 0 on success, 1 with a message otherwise."""
    if candles < 1:
        print("greenlight demo: --candles must be at least 1", file=sys.stderr)
        return 2
    if not auto_approve:
        print("greenlight demo: unattended runs need --auto-approve", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="greenlight-demo-"))
    try:
        result = asyncio.run(
            _interruptible(_demo(settings, candles, speed, timeout, workdir, futures_symbols))
        )
    except DemoError as exc:
        print(f"greenlight demo failed: {exc}\n(logs in {workdir})", file=sys.stderr)
        return 1
    Path(report_path).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if keep:
        print(f"logs and charts kept in {workdir}", file=sys.stderr)
    else:
        _remove(settings, workdir)
    return 0


def _remove(settings: Settings, workdir: Path) -> None:
    if not settings.database.url:
        stop_embedded(workdir / "pgdata")
    shutil.rmtree(workdir, ignore_errors=True)


async def _interruptible(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run ``work``; SIGINT/SIGTERM cancel it, so its cleanup stops every child process."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise DemoError("interrupted") from None


async def _demo(
    settings: Settings,
    candles: int,
    speed: float,
    timeout: float,
    workdir: Path,
    futures_symbols: tuple[str, ...],
) -> dict[str, Any]:
    url = await _fresh_database(settings, workdir)
    await migrate(url)
    sim_port, router_port = free_port(), free_port()
    env = child_env(
        url,
        router_token({}),
        {
            "GREENLIGHT_VENUE_NAME": "sim",
            "GREENLIGHT_MARKET_FUTURES_SYMBOLS": json.dumps(list(futures_symbols)),
            "GREENLIGHT_GENERAL_MODE": "paper",  # the demo only ever runs on the simulator
            "GREENLIGHT_SIM_PORT": str(sim_port),
            "GREENLIGHT_SIM_CANDLES_PER_SECOND": str(speed),
            "GREENLIGHT_SIM_MAX_CANDLES": str(candles),
            "GREENLIGHT_ROUTER_PORT": str(router_port),
            "GREENLIGHT_BOT_CHANNELS": '["console"]',
            "GREENLIGHT_BOT_CHART_DIR": str(workdir / "charts"),
        },
    )
    group = ProcessGroup(env)
    logs = _open_logs(workdir)
    started = time.monotonic()
    try:
        sim = group.start("sim", "sim", stdout=logs["sim"])
        await asyncio.to_thread(wait_port, "127.0.0.1", sim_port, 60, sim)
        async with aiohttp.ClientSession() as http:
            await _SimAdmin(http, sim_port).call("pause")
        router = group.start("router", "router", stdout=logs["router"])
        await asyncio.to_thread(wait_port, "127.0.0.1", router_port, 60, router)
        group.start("engine", "engine", stdout=logs["engine"])
        group.start("bot", "bot", "--auto-approve", stdout=logs["bot"])
        await _drive(group, url, sim_port, started + timeout)
        return await report.build(
            url,
            f"http://127.0.0.1:{sim_port}",
            SIM_DEMO_API_KEY,
            SIM_DEMO_API_SECRET,
            time.monotonic() - started,
        )
    finally:
        group.stop()
        for fh in logs.values():
            fh.close()


def _open_logs(workdir: Path) -> dict[str, BinaryIO]:
    return {n: (workdir / f"{n}.log").open("wb") for n in ("sim", "router", "engine", "bot")}


async def _fresh_database(settings: Settings, workdir: Path) -> str:
    if not settings.database.url:
        return await asyncio.to_thread(start_embedded, workdir / "pgdata")
    name = f"greenlight_demo_{int(time.time())}"
    conn = await asyncpg.connect(settings.database.url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    head, sep, query = settings.database.url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"


class _SimAdmin:
    """The sim's loopback admin API over one HTTP session."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self._http = http
        self._base = f"http://127.0.0.1:{port}/sim/admin"

    async def call(self, action: str) -> dict[str, Any]:
        method = self._http.get if action == "status" else self._http.post
        async with method(f"{self._base}/{action}") as resp:
            if resp.status != 200:
                raise DemoError(f"sim admin {action}: HTTP {resp.status}")
            data: dict[str, Any] = await resp.json()
            return data


IN_FLIGHT_SQL = """
SELECT count(*) FROM decisions d
WHERE d.state IN ('PENDING', 'APPROVED')
   OR (d.state IN ('ROUTED', 'OPEN') AND NOT EXISTS (
        SELECT 1 FROM orders o WHERE o.decision_id = d.id AND o.client_order_id LIKE '%-SL%'
          AND o.status NOT IN ('NEW_PENDING', 'REJECTED')))
"""


async def _drive(group: ProcessGroup, url: str, sim_port: int, deadline: float) -> None:
    """Resume the replay, hold it while a decision is in flight, return when all is done."""
    conn, listener = await connect(url), await connect(url)
    pending: set[asyncio.Task[Any]] = set()
    async with aiohttp.ClientSession() as http:
        admin = _SimAdmin(http, sim_port)

        def hold_now(*_: object) -> None:  # the moment a decision is written
            task = asyncio.ensure_future(admin.call("pause"))
            pending.add(task)
            task.add_done_callback(pending.discard)

        await listener.add_listener("gl_decisions", hold_now)
        try:
            await _follow(group, conn, admin, deadline)
        finally:
            await listener.close()
            await conn.close()


async def _follow(
    group: ProcessGroup, conn: asyncpg.Connection, admin: _SimAdmin, deadline: float
) -> None:
    engine_ready, paused = False, True
    while True:
        if dead := group.dead():
            raise DemoError(", ".join(f"{n} exited with code {rc}" for n, rc in dead))
        if time.monotonic() > deadline:
            raise DemoError("timed out before the replay finished")
        if not engine_ready:
            engine_ready = bool(await conn.fetchval("SELECT count(*) FROM feature_state"))
            equity = await conn.fetchval("SELECT value FROM control WHERE key='equity_quote'")
            engine_ready = engine_ready and equity is not None
        in_flight = await conn.fetchval(IN_FLIGHT_SQL)
        status = await admin.call("status")
        hold = not engine_ready or in_flight > 0
        if hold != paused and not status.get("finished"):
            await admin.call("pause" if hold else "resume")
            paused = hold
        if status.get("finished") and not in_flight:
            last = await conn.fetchval(
                "SELECT max(open_time) FROM feature_state WHERE venue = 'sim'"
            )
            if last is not None and last >= int(status.get("open_time") or 0):
                return
        await asyncio.sleep(0.02)
