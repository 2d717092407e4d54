"""Decisions written the way the engine writes them (signal row, sized bracket, PENDING
decision with its NOTIFY), for the bot's tests."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from engine import store
from engine.decision.bracket import build_spot_bracket
from greenlight.core.contracts import SignalRaw
from greenlight.core.lifecycle import State, advance, path_to
from greenlight.core.symbols import SymbolRules

_FILTERS = [
    {
        "filterType": "PRICE_FILTER",
        "minPrice": "0.01",
        "maxPrice": "1000000.00",
        "tickSize": "0.01",
    },
    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00000", "stepSize": "0.00001"},
    {
        "filterType": "NOTIONAL",
        "minNotional": "5.00",
        "applyMinToMarket": True,
        "maxNotional": "9000000.00",
        "applyMaxToMarket": False,
        "avgPriceMins": 5,
    },
]
BTCUSDT = SymbolRules.from_exchange_info(
    {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "status": "TRADING",
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "filters": _FILTERS,
            }
        ]
    },
    "BTCUSDT",
)


async def make_decision(
    pool: asyncpg.Pool,
    open_time: int = 1,
    *,
    tf: str = "15m",
    entry: float = 60000.0,
    stop: float = 59000.0,
    state: str | None = None,
    agent: str = "t",
    ttl: int = 600,
) -> int:
    """A PENDING spot BTCUSDT decision (or moved to ``state``); returns its id."""
    sig = SignalRaw(
        agent=agent,
        venue="sim",
        symbol="BTCUSDT",
        tf=tf,
        open_time=open_time,
        side_hint="long",
        entry_hint=entry,
        sl_hint=stop,
        tpR=(1.5, 2.0, 3.0),
        features={},
        score=0.71,
        ttl_bars=1,
        why="CHOCH→BOS up, retest of OB",
    )
    bracket = build_spot_bracket(sig, BTCUSDT, Decimal("10000"), Decimal("0.005"))
    async with pool.acquire() as conn:
        sid = await store.insert_signal(conn, sig)
        assert sid is not None
        did = await store.insert_decision(conn, sid, sig, bracket, ttl, 0.0)
        assert did is not None
        if state is not None:
            await walk_to(conn, did, State(state))
    return did


async def walk_to(conn: asyncpg.Connection, decision_id: int, state: State) -> None:
    """Move a decision to ``state`` the way the product would, event by event."""
    for event in path_to(state):
        assert await advance(conn, decision_id, event, "test") is not None, event
