"""Shared helpers for the USD-M router tests (no tests here): USD-M brackets and decision
rows. The fake futures venue is :class:`tests.fakes.venues.FakeUsdm`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side

_open_times = itertools.count(1_700_000_000_000, 300_000)


def usdm_bracket(
    side: str, entry: str, stop: str, tps: tuple[str, ...], qty: str, leverage: int = 2
) -> Bracket:
    """A USD-M bracket with ``qty`` split evenly over the take-profit rungs."""
    share = (D(qty) / len(tps)).quantize(D("0.1"))
    legs = tuple(
        BracketLeg(price=D(p), quantity=share, r_multiple=D(i + 1)) for i, p in enumerate(tps)
    )
    return Bracket(
        market=Market.USDM,
        symbol="XRPUSDT",
        side=Side(side),
        entry_type="MARKET",
        entry_price=D(entry),
        quantity=D(qty),
        stop_price=D(stop),
        take_profits=legs,
        risk_quote=D("10"),
        risk_fraction=D("0.01"),
        equity_quote=D("1000"),
        leverage=leverage,
    )


async def insert_usdm_decision(
    pool: asyncpg.Pool, bracket: Bracket, state: str = "APPROVED", venue: str = "sim"
) -> int:
    """Insert an approved USD-M decision as the bot would leave it."""
    decision_id: int = await pool.fetchval(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at, decided_at, decided_by, decided_via)"
        " VALUES ($1, 'usdm', $2, '5m', $3, $4, $5, $6, '{}'::jsonb, $7, clock_timestamp(),"
        " 'tester', 'console') RETURNING id",
        venue,
        bracket.symbol,
        next(_open_times),
        bracket.side.value,
        state,
        bracket.model_dump(mode="json"),
        datetime.now(UTC) + timedelta(minutes=10),
    )
    return decision_id
