"""Sizing on equity not already committed: pending and open decisions hold what they cost,
and two streams signalling on the same candle never size on the same balance."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import asyncpg

from engine.decision.commitment import committed_quote, uncommitted_equity
from engine.events import Candle
from engine.pipeline import StreamProcessor
from greenlight.core.candlefile import read_candles
from greenlight.core.contracts import Bracket
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.integration.pipeline_support import SETTINGS
from tests.symbol_rules import BTCUSDT as RULES

_open_times = iter(range(1_600_000_000_000, 1_700_000_000_000, 900_000))


async def decision(
    pool: asyncpg.Pool, state: str, market: str, qty: str, entry: str, leverage: int = 1
) -> None:
    bracket = {"quantity": qty, "entry_price": entry, "leverage": leverage}
    await pool.execute(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at) VALUES ('sim', $1, 'BTCUSDT', '15m', $2, 'BUY', $3, $4,"
        " '{}'::jsonb, now())",
        market,
        next(_open_times),
        state,
        bracket,
    )


async def test_pending_and_open_decisions_hold_what_they_cost(pool: asyncpg.Pool) -> None:
    await decision(pool, "PENDING", "spot", "0.1", "60000")
    await decision(pool, "APPROVED", "spot", "0.02", "50000")
    await decision(pool, "OPEN", "spot", "0.05", "60000")
    for done in ("CLOSED", "FAILED", "REJECTED", "EXPIRED", "CANCELLED"):
        await decision(pool, done, "spot", "1", "60000")
    await decision(pool, "ROUTED", "usdm", "900", "1", leverage=3)  # margin 300
    async with pool.acquire() as conn:
        assert await committed_quote(conn, "spot") == D(10000)
        assert await committed_quote(conn, "usdm") == D(300)
        async with conn.transaction():
            assert await uncommitted_equity(conn, "spot", D(12000)) == D(2000)


async def test_streams_signalling_on_one_candle_share_the_equity(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO control (key, value) VALUES ('equity_quote', '10000')")
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    streams = {v: candle_rows(data, v, "BTCUSDT", "15m", 900_000, 0, 2500) for v in ("a", "b")}
    procs = {v: StreamProcessor(SETTINGS, v, RULES, "15m") for v in streams}

    async def step(venue: str, candle: Candle) -> None:
        await procs[venue].process(pool, candle, 0.0, live=True)

    for a, b in zip(streams["a"], streams["b"], strict=True):
        await asyncio.gather(step("a", a), step("b", b))  # the same candle, at once
        if await pool.fetchval("SELECT count(*) FROM decisions") >= 2:
            break
    rows = await pool.fetch("SELECT venue, open_time, bracket FROM decisions ORDER BY id")
    assert len(rows) == 2 and rows[0]["open_time"] == rows[1]["open_time"]
    first, second = (Bracket.model_validate(r["bracket"]) for r in rows)
    assert first.equity_quote == D(10000)
    assert second.equity_quote == D(10000) - first.quantity * first.entry_price
    assert second.quantity < first.quantity
    spent = sum(b.quantity * b.entry_price for b in (first, second))
    assert spent <= D(10000)
