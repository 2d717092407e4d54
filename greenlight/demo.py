"""``greenlight demo``: the real system, unattended, on a private database, with a JSON report.

Every process is the real one (sim, router, engine, bot with ``--auto-approve``). The demo
drives the simulator's clock itself, one timeframe at a time (``/sim/admin/advance``), and
moves on only when everything the last step caused has settled: the engine has processed the
candle on every stream, no decision is between "written" and "protected on the exchange",
and the router has handled every user-data message the venue sent. The run therefore does
not depend on how fast the machine is: the same arguments give the same decisions and fills.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import asyncpg

from greenlight import report
from greenlight.core.db import APP_ROLE, connect, migrate, role_url, start_embedded, stop_embedded
from greenlight.core.db_outage import db_unavailable
from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from greenlight.core.settings import TIMEFRAMES_MS, Settings
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


@dataclass
class System:
    """The demo's processes on a private database: sim (paused), router, engine, bot."""

    url: str  # the database, as its owner
    env: dict[str, str]
    group: ProcessGroup
    sim_port: int
    router_port: int
    logs: dict[str, BinaryIO]

    @property
    def sim_url(self) -> str:
        """REST base of the simulator."""
        return f"http://127.0.0.1:{self.sim_port}"

    def probe(self) -> Probe:
        """A probe of this system (use it as an async context manager)."""
        return Probe(self.url, self.sim_port, self.router_port, self.env["GREENLIGHT_ROUTER_TOKEN"])

    def stop(self) -> None:
        """Stop every child and close the logs."""
        self.group.stop()
        for fh in self.logs.values():
            fh.close()


METRICS_PROCESSES = ("ENGINE", "BOT", "ROUTER", "SIM")


async def start_system(
    settings: Settings,
    candles: int,
    speed: float,
    workdir: Path,
    futures_symbols: tuple[str, ...],
) -> System:
    """Migrate a fresh database and start the processes (the replay stays paused)."""
    url = await fresh_database(settings, workdir)
    await migrate(url)
    sim_port, router_port = free_port(), free_port()
    env = child_env(
        url if settings.database.url else role_url(url, APP_ROLE),  # least privilege
        router_token({}),
        {
            "GREENLIGHT_AUDIT_ANCHOR_FILE": str(workdir / "audit-anchors.jsonl"),
            "GREENLIGHT_VENUE_NAME": "sim",
            "GREENLIGHT_MARKET_FUTURES_SYMBOLS": json.dumps(list(futures_symbols)),
            "GREENLIGHT_GENERAL_MODE": "paper",  # the demo only ever runs on the simulator
            "GREENLIGHT_SIM_PORT": str(sim_port),
            "GREENLIGHT_SIM_CANDLES_PER_SECOND": str(speed),
            "GREENLIGHT_SIM_MAX_CANDLES": str(candles),
            "GREENLIGHT_ROUTER_PORT": str(router_port),
            "GREENLIGHT_BOT_CHANNELS": '["console"]',
            "GREENLIGHT_BOT_CHART_DIR": str(workdir / "charts"),
            # its own JSON logs: trace ids repeat run to run (same candles), so a shared
            # var/log would mix another run's lines into `greenlight trace`
            "GREENLIGHT_LOGS_DIR": str(workdir / "log"),
            # fresh /metrics ports too, so a running `up` (or another demo) is no bother
            **{f"GREENLIGHT_METRICS_{p}_PORT": str(free_port()) for p in METRICS_PROCESSES},
        },
    )
    system = System(url, env, ProcessGroup(env), sim_port, router_port, _open_logs(workdir))
    try:
        group, logs = system.group, system.logs
        sim = group.start("sim", "sim", "--paused", stdout=logs["sim"])
        await asyncio.to_thread(wait_port, "127.0.0.1", sim_port, 60, sim)
        router = group.start("router", "router", stdout=logs["router"])
        await asyncio.to_thread(wait_port, "127.0.0.1", router_port, 60, router)
        group.start("engine", "engine", stdout=logs["engine"])
        group.start("bot", "bot", "--auto-approve", stdout=logs["bot"])
    except BaseException:
        system.stop()
        raise
    return system


async def _demo(
    settings: Settings,
    candles: int,
    speed: float,
    timeout: float,
    workdir: Path,
    futures_symbols: tuple[str, ...],
) -> dict[str, Any]:
    started = time.monotonic()
    system = await start_system(settings, candles, speed, workdir, futures_symbols)
    try:
        tf_ms = TIMEFRAMES_MS[settings.market.timeframe]
        await drive(system.group, system.probe(), tf_ms, started + timeout)
        result = await report.build(
            system.url,
            system.sim_url,
            SIM_DEMO_API_KEY,
            SIM_DEMO_API_SECRET,
            time.monotonic() - started,
            settings.strategy.agent,
        )
    finally:
        system.stop()
    result["log_errors"] = logged_errors(workdir / "log")  # shutdown included
    return result


def logged_errors(log_dir: Path, keep: int = 10) -> dict[str, Any]:
    """ERROR and CRITICAL lines of the processes' JSON logs: how many, and the first
    ``keep`` as ``"process: message"`` (a clean run has none)."""
    count, first = 0, list[str]()
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("level", "")).lower() in ("error", "critical"):
                count += 1
                if len(first) < keep:
                    first.append(f"{entry.get('process', path.stem)}: {entry.get('event', '')}")
    return {"count": count, "first": first}


def _open_logs(workdir: Path) -> dict[str, BinaryIO]:
    return {n: (workdir / f"{n}.log").open("wb") for n in ("sim", "router", "engine", "bot")}


async def fresh_database(settings: Settings, workdir: Path) -> str:
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


IN_FLIGHT_SQL = """
SELECT count(*) FROM decisions d
WHERE d.state IN ('PENDING', 'APPROVED')
   OR (d.state IN ('ROUTED', 'OPEN') AND NOT EXISTS (
        SELECT 1 FROM orders o WHERE o.decision_id = d.id AND o.client_order_id LIKE '%-SL%'
          AND o.status NOT IN ('NEW_PENDING', 'REJECTED')))
"""
PROCESSED_SQL = """
SELECT venue, min(open_time) AS open_time FROM feature_state WHERE tf = $1 GROUP BY venue
"""
POLL_S = 0.003
DB_DOWN_POLL_S = 0.1  # while the database restarts (chaos)


class Probe:
    """What the demo watches: the simulator's admin API, the router's state, the database."""

    def __init__(self, db_url: str, sim_port: int, router_port: int, token: str) -> None:
        self.db_url = db_url
        self.sim = f"http://127.0.0.1:{sim_port}/sim/admin"
        self.router = f"http://127.0.0.1:{router_port}/v1/state"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http: aiohttp.ClientSession | None = None
        self.conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> Probe:
        self.http = aiohttp.ClientSession()
        self.conn = await connect(self.db_url)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.conn is not None:
            await self.conn.close()
        if self.http is not None:
            await self.http.close()

    async def sim_call(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """``GET status`` or ``POST <action>`` on the simulator's admin API."""
        assert self.http is not None
        url = f"{self.sim}/{action}"
        method = self.http.get(url) if action == "status" else self.http.post(url, json=body)
        async with method as resp:
            if resp.status != 200:
                raise DemoError(f"sim admin {action}: HTTP {resp.status} {await resp.text()}")
            data: dict[str, Any] = await resp.json()
            return data

    async def router_handled(self) -> int | None:
        """User-data messages the router has fully handled (spot + USD-M); ``None`` while it
        is not answering yet."""
        assert self.http is not None
        try:
            async with self.http.get(self.router, headers=self.headers) as resp:
                if resp.status != 200:
                    return None
                state = await resp.json()
        except aiohttp.ClientError:
            return None
        usdm = state.get("usdm") or {}
        spot = int(state["venue"]["user_messages_handled"])
        return spot + int(usdm.get("user_messages_handled") or 0)

    async def _db(self) -> asyncpg.Connection:
        """The probe's connection, opened again after a database restart cut it."""
        if self.conn is None or self.conn.is_closed():
            self.conn = await connect(self.db_url)
        return self.conn

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """One value from the database."""
        return await (await self._db()).fetchval(sql, *args)

    async def processed(self, tf: str) -> dict[str, int]:
        """Per venue, the oldest newest-processed candle of its ``tf`` streams."""
        rows = await (await self._db()).fetch(PROCESSED_SQL, tf)
        return {r["venue"]: r["open_time"] for r in rows}


def _expected(status: dict[str, Any], tf_ms: int, spot: str) -> dict[str, int]:
    """The newest closed candle (open time) each market's engine streams must have reached."""
    out = {spot: _last_closed(status, tf_ms)}
    fut = status.get("futures")
    if fut:
        out[f"{spot}-usdm"] = _last_closed(fut, tf_ms)
    return out


def _last_closed(status: dict[str, Any], tf_ms: int) -> int:
    return int(status["server_time"]) // tf_ms * tf_ms - tf_ms


async def drive(group: ProcessGroup, probe: Probe, tf_ms: int, deadline: float) -> None:
    """Step the market one timeframe at a time, letting everything settle between steps."""
    tf = next(k for k, v in TIMEFRAMES_MS.items() if v == tf_ms)
    async with probe:
        status = await probe.sim_call("status")
        await settle(group, probe, status, tf, tf_ms, deadline)
        while not status.get("finished"):
            status = await probe.sim_call("advance", {"ms": tf_ms})
            await settle(group, probe, status, tf, tf_ms, deadline)


async def settle(
    group: ProcessGroup,
    probe: Probe,
    status: dict[str, Any],
    tf: str,
    tf_ms: int,
    deadline: float,
    venue: str = "sim",
) -> None:
    """Wait until the engine processed the step's candles on every stream (of ``venue``), no
    decision is in flight, and the router handled every user-data message sent so far."""
    want = _expected(status, tf_ms, venue)
    waiting = "nothing yet"
    while True:
        if dead := group.dead():
            raise DemoError(", ".join(f"{n} exited with code {rc}" for n, rc in dead))
        if time.monotonic() > deadline:
            raise DemoError(f"timed out before the replay finished (waiting for {waiting})")
        try:
            unsettled = await _unsettled(probe, tf, want)
        except Exception as exc:
            if not db_unavailable(exc):
                raise
            waiting = f"the database to be back ({exc})"
            await asyncio.sleep(DB_DOWN_POLL_S)
            continue
        if unsettled is None:
            return
        waiting = unsettled
        await asyncio.sleep(POLL_S)


async def _unsettled(probe: Probe, tf: str, want: dict[str, int]) -> str | None:
    """What the step still waits for, or ``None`` when everything has settled."""
    if await probe.fetchval("SELECT value FROM control WHERE key = 'equity_quote'") is None:
        return "the router's first equity snapshot"
    done = await probe.processed(tf)
    for venue, t in want.items():
        if done.get(venue, -1) < t:
            return f"the engine to process {venue} {tf} candle {t} (at {done.get(venue)})"
    if n := await probe.fetchval(IN_FLIGHT_SQL):
        return f"{n} decision(s) between written and protected"
    # handled before and after reading what was sent: equal means nothing was in progress
    before = await probe.router_handled()
    sent = int((await probe.sim_call("status"))["user_messages_sent"])
    after = await probe.router_handled()
    if before is None or not before == sent == after:
        return f"the router to handle user-data messages ({before}/{sent})"
    return None
