"""Fan-in: N symbols closing on the same instant, close → decision latency per stream.

Starts the simulator (a real process, replay paused) with N spot symbols that all replay the
same candles, and the engine in this process on a fresh database (an embedded PostgreSQL in a
temporary folder), with equity published so that signals go all the way to decisions. Then
steps the simulator's clock one timeframe at a time (``POST /sim/admin/advance``): every step
closes N candles at once. For each closed candle the engine reports the exact time from the
closing kline's arrival to the candle's transaction committed (``engine.metrics.LISTENERS``,
the same figure as ``greenlight_candle_processing_seconds``), and how long it queued.

The engine runs as ``greenlight engine`` does (its heap settled after the warm-up). Prints
one JSON line per N: p50/p95/p99 of close → decision and of the queue wait (ms), CPU per
stream per close (ms; the engine's process CPU, and the simulator's), and where the engine's
time went (``commit_groups``: transactions while measured, candles per transaction, and per
transaction the in-memory steps and the transaction itself, ms). ``FANIN_PROFILE=N`` prints
the engine's top N functions.

    python bench/bench_fanin.py [--streams 16,64,256] [--steps 20] [--warmup 60] [--pool 5]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import metrics  # noqa: E402
from engine.candle_batch import GroupStats  # noqa: E402
from engine.service import Engine  # noqa: E402
from greenlight.core.db import connect_pool, migrate, start_embedded, stop_embedded  # noqa: E402
from greenlight.core.settings import load_settings  # noqa: E402
from greenlight.procs import ProcessGroup, free_port, wait_port  # noqa: E402

SOURCE = REPO / "data/BTCUSDT-15m-2019-2020.csv.gz"
TF_MS = 900_000
PROFILE = int(os.environ.get("FANIN_PROFILE", "0"))  # >0: print the top N functions (stderr)


def _candle_file(tmp: Path, rows: int) -> Path:
    """The first ``rows`` candles of the bundled file (loading is N times faster)."""
    path = tmp / "fanin-15m.csv"
    with gzip.open(SOURCE, "rt") as src, path.open("w") as dst:
        for _ in range(rows + 1):  # header included when there is one
            dst.write(next(src))
    return path


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}


def _group_line(before: GroupStats, after: GroupStats) -> dict[str, float]:
    """Where the engine's time went while measured: transactions per step's closes, their
    mean size, and per transaction the in-memory steps and the transaction itself (ms)."""
    n = max(1, after.transactions - before.transactions)
    return {
        "transactions": after.transactions - before.transactions,
        "mean_candles": round((after.candles - before.candles) / n, 1),
        "largest": after.largest,
        "advance_ms": round((after.advance_s - before.advance_s) / n * 1000, 2),
        "commit_ms": round((after.commit_s - before.commit_s) / n * 1000, 2),
    }


async def _database(server_url: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    head, sep, query = server_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"
    await migrate(url)
    return url


async def _step(
    http: aiohttp.ClientSession,
    base: str,
    samples: dict[str, list[float]],
    n: int,
    task: asyncio.Task[None],
) -> None:
    """Advance the market one timeframe and wait (deadline) until the n candles are in."""
    want = len(samples["candle"]) + n
    async with http.post(f"{base}/advance", json={"ms": TF_MS}) as resp:
        resp.raise_for_status()
    deadline = time.monotonic() + 60
    while len(samples["candle"]) < want:
        if time.monotonic() > deadline or task.done():
            raise RuntimeError(f"{n} streams: step did not complete")
        await asyncio.sleep(0.005)


async def run_one(
    n: int, steps: int, warmup: int, server_url: str, tmp: Path, pool_size: int
) -> dict[str, Any]:
    """One fan-in run with ``n`` streams; returns its JSON line."""
    symbols = [f"S{i:03d}USDT" for i in range(n)]
    data = _candle_file(tmp, warmup + steps + 50)
    url = await _database(server_url, f"fanin_{n}")
    sim_port = free_port()
    env = {
        "GREENLIGHT_DATABASE_URL": url,
        "GREENLIGHT_SIM_PORT": str(sim_port),
        "GREENLIGHT_SIM_HISTORY_CANDLES": str(warmup + 5),
        "GREENLIGHT_MARKET_SYMBOLS": json.dumps(symbols),
        "GREENLIGHT_MARKET_WARMUP_CANDLES": str(warmup),
        "GREENLIGHT_METRICS_SIM_PORT": "0",
        "GREENLIGHT_LOGS_DIR": str(tmp / "log"),
        "GREENLIGHT_GENERAL_LOG_LEVEL": "WARNING",
        "GREENLIGHT_DATABASE_POOL_SIZE": str(pool_size),
    }
    settings = load_settings(env=env)
    group = ProcessGroup({**os.environ, **env})
    files = [a for s in symbols for a in ("--spot-file", f"{s}={data}")]
    sim = group.start(
        "sim", "sim", "--paused", "--markets", "spot", *files, stdout=subprocess.DEVNULL
    )
    samples: dict[str, list[float]] = {"candle": [], "queue_lag": []}

    def listen(kind: str, seconds: float) -> None:
        samples[kind].append(seconds)

    pool = await connect_pool(url, settings.database.pool_size)
    try:
        wait_port("127.0.0.1", sim_port, 120, sim)
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO control (key, value, updated_by) VALUES ('trading_enabled',"
                " 'true'::jsonb, 'bench'), ('equity_quote', '10000'::jsonb, 'bench')"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            )
        engine = Engine(settings, pool, settle_heap=True)  # as `greenlight engine` runs it
        task = asyncio.create_task(engine.run())
        started = time.perf_counter()
        await asyncio.wait_for(engine.ready.wait(), 600)
        warm_s = time.perf_counter() - started
        metrics.LISTENERS.append(listen)
        base = f"http://127.0.0.1:{sim_port}/sim/admin"
        async with aiohttp.ClientSession() as http:  # one step first: the gap since warm-up
            await _step(http, base, samples, n, task)  # is backfilled by REST, not measured
        for kind in samples:
            samples[kind].clear()
        profiler = cProfile.Profile() if PROFILE else None
        if profiler is not None:
            profiler.enable()
        backfilled0 = sum(i.stats.backfilled for i in engine.ingestors)
        group0 = replace(engine.group.stats)
        cpu0, sim_cpu0 = time.process_time(), _cpu_seconds(sim.pid)
        async with aiohttp.ClientSession() as http:
            for _ in range(steps):
                await _step(http, base, samples, n, task)
        cpu, sim_cpu = time.process_time() - cpu0, _cpu_seconds(sim.pid) - sim_cpu0
        backfilled = sum(i.stats.backfilled for i in engine.ingestors) - backfilled0
        groups = _group_line(group0, engine.group.stats)
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(PROFILE)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        if listen in metrics.LISTENERS:
            metrics.LISTENERS.remove(listen)
        await pool.close()
        group.stop()
    closes = n * steps
    return {
        "bench": "fanin",
        "streams": n,
        "steps": steps,
        "closes": len(samples["candle"]),
        "close_to_decision_ms": _pct(samples["candle"]),
        "queue_wait_ms": _pct(samples["queue_lag"]),
        "engine_cpu_ms_per_stream_close": round(cpu / closes * 1000, 3),
        "sim_cpu_ms_per_stream_close": round(sim_cpu / closes * 1000, 3),
        "backfilled_while_measured": backfilled,
        "commit_groups": groups,
        "warmup_s": round(warm_s, 1),
        "pool_size": settings.database.pool_size,
    }


async def main_async(streams: list[int], steps: int, warmup: int, pool_size: int) -> None:
    """Run every N and print its line."""
    with tempfile.TemporaryDirectory(prefix="gl-fanin-") as d:
        tmp = Path(d)
        server_url = start_embedded(tmp / "pgdata")
        try:
            for n in streams:
                print(
                    json.dumps(await run_one(n, steps, warmup, server_url, tmp, pool_size)),
                    flush=True,
                )
        finally:
            stop_embedded(tmp / "pgdata")


def main() -> int:
    """Parse the options and run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="16,64,256", help="comma-separated stream counts")
    ap.add_argument("--steps", type=int, default=20, help="closes per stream measured")
    ap.add_argument("--warmup", type=int, default=60, help="warm-up candles per stream")
    ap.add_argument("--pool", type=int, default=5, help="database.pool_size of the engine")
    args = ap.parse_args()
    streams = [int(x) for x in args.streams.split(",") if x]
    asyncio.run(main_async(streams, args.steps, args.warmup, args.pool))
    return 0


if __name__ == "__main__":
    sys.exit(main())
