"""Sub-timeframe streams in the pipeline on real XRPUSDT 5m candles (resampled to 15m):
live micro-BOS flags equal the batch ``micro_bos_flags``, they reach the retest agent's
signals, a restart resumes both streams exactly, and a parent candle waits (bounded) for
its last sub candle."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import asyncpg
import numpy as np
import pytest

from engine.events import Candle
from engine.micro_stream import micro_smc_params
from engine.pipeline import StreamProcessor
from engine.retest.micro import micro_bos_flags
from engine.smc import layout as L
from engine.smc.engine import run_smc_batch
from engine.sub_pipeline import SubStreamProcessor
from engine.symbol_feed import SymbolFeed
from greenlight.core.contracts import Market
from greenlight.core.settings import MarketSettings, RiskSettings, Settings, StrategySettings
from tests.helpers import eventually
from tests.integration.micro_support import PARENT, PARENTS, ROWS, SUB, VENUE, subs_of
from tests.symbol_rules import XRPUSDT_PERP as RULES

SETTINGS = Settings(
    market=MarketSettings(futures_symbols=("XRPUSDT",), sub_timeframe="5m"),
    strategy=StrategySettings(agent="retest"),
    risk=RiskSettings(max_open_positions=100),
)


def streams() -> tuple[StreamProcessor, SubStreamProcessor]:
    proc = StreamProcessor(SETTINGS, VENUE, RULES, "15m", Market.USDM)
    sub = SubStreamProcessor(SETTINGS, VENUE, "XRPUSDT", "5m", "15m")
    proc.attach_sub(sub)
    return proc, sub


async def feed(
    pool: asyncpg.Pool, proc: StreamProcessor, sub: SubStreamProcessor, parents: list[Candle]
) -> list[tuple[bool, bool]]:
    """Each parent after its sub candles (the venue's order); the micro flags per parent."""
    flags = []
    for p in parents:
        for s in subs_of(p):
            await sub.process(pool, s, 0.0)
        flags.append((await proc.process(pool, p, 0.0, live=True)).micro)
    return flags


async def table_rows(pool: asyncpg.Pool) -> dict[str, list[tuple[object, ...]]]:
    async with pool.acquire() as conn:
        return {k: [tuple(r) for r in await conn.fetch(q)] for k, q in ROWS.items()}


async def test_live_micro_flags_equal_batch_and_confirm_retests(pool: asyncpg.Pool) -> None:
    proc, sub = streams()
    flags = await feed(pool, proc, sub, PARENTS)
    up, dn = micro_bos_flags(PARENT.open_time, 900_000, SUB, micro_smc_params(SETTINGS))
    assert [f[0] for f in flags] == up.tolist()
    assert [f[1] for f in flags] == dn.tolist()
    assert up.sum() >= 20 and dn.sum() >= 20
    rows = await table_rows(pool)
    assert sum(1 for r in rows["candles"] if r[0] == "5m") == 3 * len(PARENTS)
    assert sum(1 for r in rows["candles"] if r[0] == "15m") == len(PARENTS)
    ev, _ = run_smc_batch(SUB.slice(0, 3 * len(PARENTS)), micro_smc_params(SETTINGS))
    breaks = ev[(ev[:, L.EV_TYPE] == L.T_BOS) | (ev[:, L.EV_TYPE] == L.T_CHOCH)]
    stored = [r[1] for r in rows["smc_events"] if r[0] == "5m"]
    assert stored == sorted(breaks[:, L.EV_TIME].astype(int).tolist())
    retest = [cast(dict[str, Any], r[4]) for r in rows["signals"] if r[0] == "retest.v1"]
    assert any(s["features"]["micro_bos"] for s in retest), retest
    for s in retest:
        i = int(np.searchsorted(PARENT.open_time, s["open_time"]))
        assert s["features"]["micro_bos"] == bool(up[i] if s["side_hint"] == "long" else dn[i])


async def test_restart_between_sub_and_parent_resumes_both_streams(pool: asyncpg.Pool) -> None:
    up, dn = micro_bos_flags(PARENT.open_time, 900_000, SUB, micro_smc_params(SETTINGS))
    k = next(i for i in range(330, len(PARENTS)) if up[i] or dn[i])
    parents = PARENTS[: k + 80]
    proc, sub = streams()
    await feed(pool, proc, sub, PARENTS[:k])
    for s in subs_of(PARENTS[k]):  # the crash comes after the sub candles, before the parent
        await sub.process(pool, s, 0.0)
    assert sub.micro.pending, "the break inside the next parent is pending"

    proc = StreamProcessor(SETTINGS, VENUE, RULES, "15m", Market.USDM)
    sub2 = SubStreamProcessor(SETTINGS, VENUE, "XRPUSDT", "5m", "15m")
    async with pool.acquire() as conn:
        assert await proc.restore(conn) == PARENTS[k - 1].open_time
        assert await sub2.restore(conn) == subs_of(PARENTS[k])[-1].open_time
    proc.attach_sub(sub2)
    flags = await feed(pool, proc, sub2, parents[k - 20 :])  # overlapping replay: skipped
    assert flags[20] == (bool(up[k]), bool(dn[k]))
    split = await table_rows(pool)

    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE candles, indicators, feature_state, signals, decisions, swings, smc_events,"
            " zones, regimes CASCADE"
        )
    proc, sub2 = streams()
    await feed(pool, proc, sub2, parents)
    whole = await table_rows(pool)
    for table, got in whole.items():
        assert len(got) > 0, table
        assert split[table] == got, table


async def test_parent_waits_for_its_last_sub_candle(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    sub = SubStreamProcessor(SETTINGS, VENUE, "XRPUSDT", "5m", "15m")
    proc = StreamProcessor(SETTINGS, VENUE, RULES, "15m", Market.USDM)
    sf = SymbolFeed(pool, proc, sub, wait_s=0.3)
    up, dn = micro_bos_flags(PARENT.open_time, 900_000, SUB, micro_smc_params(SETTINGS))
    n = 60
    task = asyncio.create_task(sf.run())
    try:
        for p in PARENTS[:n]:  # the parent's closing update overtakes its last sub candle
            s = subs_of(p)
            for c in s[:-1]:
                await sf.put(c, 0.0, True)
            await sf.put(p, 0.0, True)
            await sf.put(s[-1], 0.0, True)
        # the outcome is recorded once the parent's transaction is done, after last_open_time
        await eventually(lambda: _true(len(sf.outcomes) == n), 20, "every parent's outcome")
        assert proc.last_open_time == PARENTS[n - 1].open_time
        got = [o.micro for _, o in sf.outcomes]
        assert got == list(zip(up[:n].tolist(), dn[:n].tolist(), strict=True))
        assert sf.late_parents == 0
        # the last sub candle never comes: the parent proceeds after the bounded wait
        p = PARENTS[n]
        caplog.set_level(logging.WARNING, logger="engine.symbol_feed")
        for c in subs_of(p)[:-1]:
            await sf.put(c, 0.0, True)
        await sf.put(p, 0.0, True)
        await eventually(lambda: _true(proc.last_open_time == p.open_time), 5)
        assert sf.late_parents == 1
        assert f"candle {p.open_time}: no 5m candle closing at {p.close_time}" in caplog.text
        late = subs_of(p)[-1]
        await sf.put(late, 0.0, True)  # stored and fed to the micro SMC, nothing else breaks
        await eventually(lambda: _true(sub.last_open_time == late.open_time), 5)
    finally:
        task.cancel()


async def _true(v: bool) -> bool:
    return v
