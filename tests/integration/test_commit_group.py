"""Streams closing on the same instant commit in one transaction (engine.candle_batch): the
rows — candles, indicators, saved states, SMC rows, regimes, guard verdicts, signals and
decisions — are exactly those of each stream processed alone, a lost commit fails every
candle of its group and each is then applied exactly once, and the group runs only inside
its task."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import asyncpg
import pytest

from engine.candle_batch import CommitGroup, Work, process_candles
from engine.events import Candle
from engine.pipeline import StreamProcessor
from engine.symbol_feed import SymbolFeed
from greenlight.core.candlefile import read_candles
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.integration.pg_restart import CommitLosingPool
from tests.integration.pipeline_support import SETTINGS
from tests.symbol_rules import BTCUSDT as RULES

VENUES = ("a", "b", "c")
N = 700  # candles per stream: signals and decisions on every stream
TABLES = {
    "candles": "SELECT venue, tf, open_time, close, received_at FROM candles ORDER BY 1, 2, 3",
    "indicators": "SELECT venue, open_time, ema20::text, atr14::text, extra FROM indicators"
    " ORDER BY 1, 2",
    "state": "SELECT venue, open_time, state, analysis_state, analysis_patch, agent_state"
    " FROM feature_state ORDER BY 1",
    "swings": "SELECT venue, pivot_time, known_time, kind, label, price FROM swings"
    " ORDER BY 1, 2, 4",
    "smc_events": "SELECT venue, open_time, kind, level FROM smc_events ORDER BY 1, 2, 3",
    "zones": "SELECT venue, kind, start_time, known_time, mitigated_time, expired_time"
    " FROM zones ORDER BY 1, 2, 3",
    "regimes": "SELECT venue, open_time, regime, detail FROM regimes ORDER BY 1, 2",
    "guards": "SELECT venue, name, state, blocking, reason, note, at_ms FROM guard_state"
    " ORDER BY 1, 2",
    "signals": "SELECT venue, agent, open_time, side, score, payload FROM signals ORDER BY 1, 2, 3",
    "decisions": "SELECT venue, open_time, side, state, bracket, regime, guards FROM decisions"
    " ORDER BY 2, 1",
}


def streams() -> dict[str, list[Candle]]:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    return {v: candle_rows(data, v, "BTCUSDT", "15m", 900_000, 0, N) for v in VENUES}


async def tables(pool: asyncpg.Pool) -> dict[str, list[tuple[object, ...]]]:
    async with pool.acquire() as conn:
        return {k: [tuple(r) for r in await conn.fetch(q)] for k, q in TABLES.items()}


async def fresh(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "TRUNCATE candles, indicators, feature_state, swings, smc_events, zones, regimes,"
        " guard_state, signals, decisions CASCADE"
    )
    await pool.execute(
        "INSERT INTO control (key, value) VALUES ('equity_quote', '10000')"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    )


async def alone(pool: asyncpg.Pool, rows: dict[str, list[Candle]]) -> None:
    """Each stream in its own transaction per candle, one after the other."""
    procs = {v: StreamProcessor(SETTINGS, v, RULES, "15m") for v in VENUES}
    for i in range(N):
        for v in VENUES:
            await procs[v].process(pool, rows[v][i], 1.0, live=True)


async def together(pool: Any, rows: dict[str, list[Candle]], group: CommitGroup) -> None:
    """The streams' feeds hand each instant's candles to ``group`` at once."""
    feeds = [
        SymbolFeed(pool, StreamProcessor(SETTINGS, v, RULES, "15m"), group=group) for v in VENUES
    ]
    for i in range(N):
        await asyncio.gather(*(f.handle(rows[f.parent.venue][i], 1.0, True) for f in feeds))


async def test_one_transaction_per_instant_writes_what_each_stream_writes_alone(
    pool: asyncpg.Pool,
) -> None:
    rows = streams()
    await fresh(pool)
    await alone(pool, rows)
    reference = await tables(pool)
    assert len(reference["decisions"]) >= 2 * len(VENUES), "the run makes decisions"

    await fresh(pool)
    group = CommitGroup(pool)
    runner = asyncio.create_task(group.run())
    try:
        await together(pool, rows, group)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert group.stats.transactions == N, "one transaction per closing instant"
    assert group.stats.candles == N * len(VENUES)
    assert await tables(pool) == reference


async def test_overlapping_transactions_decide_in_turn(pool: asyncpg.Pool) -> None:
    """The second of two overlapping transactions writes its rows at once but judges,
    signals and decides only after the first has ended: the same rows as one by one."""
    rows = streams()
    await fresh(pool)
    await alone(pool, rows)
    reference = await tables(pool)

    await fresh(pool)
    procs = {v: StreamProcessor(SETTINGS, v, RULES, "15m") for v in VENUES}
    first, second = VENUES[:2], VENUES[2:]
    for i in range(N):
        a = asyncio.create_task(
            process_candles(pool, [Work(procs[v], rows[v][i], 1.0) for v in first])
        )
        b = asyncio.create_task(
            process_candles(pool, [Work(procs[v], rows[v][i], 1.0) for v in second], turn=a)
        )
        await asyncio.gather(a, b)
    assert await tables(pool) == reference


@pytest.mark.parametrize("committed", [True, False], ids=["commit-done", "commit-lost"])
async def test_a_lost_group_commit_applies_each_candle_once(
    pool: asyncpg.Pool, committed: bool
) -> None:
    rows = streams()
    await fresh(pool)
    await alone(pool, rows)
    reference = await tables(pool)

    await fresh(pool)
    flaky = CommitLosingPool(pool, N // 2, committed)
    group = CommitGroup(cast(asyncpg.Pool, flaky))
    runner = asyncio.create_task(group.run())
    try:
        await together(flaky, rows, group)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert flaky.lost == 1
    assert await tables(pool) == reference


async def test_the_group_runs_only_inside_its_task(pool: asyncpg.Pool) -> None:
    rows = streams()
    group = CommitGroup(pool)
    proc = StreamProcessor(SETTINGS, "a", RULES, "15m")
    with pytest.raises(RuntimeError, match="not running"):
        await group.parent(proc, rows["a"][0], 1.0, True)
    runner = asyncio.create_task(group.run())
    await asyncio.sleep(0)  # the runner starts, waiting for candles
    waiting = asyncio.create_task(group.parent(proc, rows["a"][1], 1.0, True))
    await asyncio.sleep(0)  # the candle is handed in; the runner is woken, not yet run
    runner.cancel()  # stopped before the candle's transaction ran
    await asyncio.gather(runner, return_exceptions=True)
    with pytest.raises(RuntimeError, match="stopped"):
        await waiting
    assert await pool.fetchval("SELECT count(*) FROM candles") == 0
