"""Shared helpers for the router tests (no tests here): decision rows, and starting and
stopping the router task. The fake venues are in :mod:`tests.fakes.venues`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side
from router import lifecycle
from router.core import Core
from tests.fakes.router import spot_core
from tests.fakes.venues import FakeSpot, btcusdt_rules

_open_times = itertools.count(1_600_000_000_000, 900_000)


def make_bracket(
    entry: str,
    stop: str,
    tps: tuple[str, ...],
    qty: str,
    symbol: str = "BTCUSDT",
    entry_type: str = "MARKET",
) -> Bracket:
    """A long spot bracket with ``qty`` split evenly over the take-profit rungs."""
    share = (D(qty) / len(tps)).quantize(D("0.00001"))
    legs = tuple(
        BracketLeg(price=D(p), quantity=share, r_multiple=D(i + 1)) for i, p in enumerate(tps)
    )
    return Bracket(
        market=Market.SPOT,
        symbol=symbol,
        side=Side.BUY,
        entry_type=entry_type,
        entry_price=D(entry),
        quantity=D(qty),
        stop_price=D(stop),
        take_profits=legs,
        risk_quote=D("10"),
        risk_fraction=D("0.005"),
        equity_quote=D("10000"),
    )


async def insert_decision(
    pool: asyncpg.Pool,
    bracket: Bracket,
    state: str = "APPROVED",
    ttl_s: float = 600,
    venue: str = "sim",
) -> int:
    """Insert a decision row as the engine and the bot would leave it."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    decision_id: int = await pool.fetchval(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at, decided_at, decided_by, decided_via)"
        " VALUES ($1, 'spot', $2, '15m', $3, 'BUY', $4, $5, '{}'::jsonb, $6,"
        " CASE WHEN $4 = 'APPROVED' THEN clock_timestamp() END, 'tester', 'console')"
        " RETURNING id",
        venue,
        bracket.symbol,
        next(_open_times),
        state,
        bracket.model_dump(mode="json"),
        expires,
    )
    return decision_id


async def wait_router_ready(task: asyncio.Task[None], ready: asyncio.Event) -> None:
    """Return once the router ``task`` set ``ready``; re-raise if it died first."""
    done, _ = await asyncio.wait(
        [task, asyncio.create_task(ready.wait())],
        timeout=20,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if task in done:
        task.result()
    assert ready.is_set(), "router did not become ready"


async def stop_router_task(task: asyncio.Task[None]) -> None:
    """Cancel the router ``task`` and wait for it to finish."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def decision_state(pool: asyncpg.Pool, decision_id: int) -> str:
    """The decision's current state."""
    state: str = await pool.fetchval("SELECT state FROM decisions WHERE id = $1", decision_id)
    return state


RULES = btcusdt_rules()


def setup(pool: asyncpg.Pool, price: str = "60250") -> tuple[Core, FakeSpot]:
    fake = FakeSpot(RULES, D(price))
    return spot_core(pool, fake), fake


async def deliver(core: Core, fake: FakeSpot) -> None:
    events, fake.events = fake.events, []
    for ev in events:
        await lifecycle.on_execution(core, ev)


def std_bracket() -> Bracket:
    return make_bracket("60250", "59550", ("61300", "61650", "62350"), "0.0688")


async def orders(pool: asyncpg.Pool, decision_id: int) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM orders WHERE decision_id = $1", decision_id)
    return {r["leg"]: r for r in rows}
