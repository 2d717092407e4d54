"""The engine's reads and writes (asyncpg). One function per statement, no ORM."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import asyncpg

from engine.events import Candle
from greenlight.core.contracts import Bracket, NotifyChannel, SignalRaw
from greenlight.core.lifecycle import INITIAL, LIVE
from greenlight.core.store import audit, equity_quote, notify

OPEN_STATES = tuple(s.value for s in LIVE)  # pending, approved, routed or open
INDICATOR_COLUMNS = (
    "ema20",
    "ema50",
    "ema200",
    "rsi14",
    "macd",
    "macd_signal",
    "macd_hist",
    "atr14",
)


def _candle_args(c: Candle, received_at: float) -> tuple[Any, ...]:
    """The eleven ``candles`` row values, in the column order of its INSERTs."""
    return (
        c.venue,
        c.symbol,
        c.tf,
        c.open_time,
        c.close_time,
        Decimal(repr(c.open)),
        Decimal(repr(c.high)),
        Decimal(repr(c.low)),
        Decimal(repr(c.close)),
        Decimal(repr(c.volume)),
        datetime.fromtimestamp(received_at, UTC),
    )


def _indicator_args(values: dict[str, float]) -> tuple[list[float], dict[str, float | None]]:
    """The fixed indicator columns (NaN where missing) and the ``extra`` JSON of the rest."""
    fixed = [values.get(k, math.nan) for k in INDICATOR_COLUMNS]
    extra = {
        k: (None if math.isnan(v) else v) for k, v in values.items() if k not in INDICATOR_COLUMNS
    }
    return fixed, extra


async def insert_candle(conn: asyncpg.Connection, c: Candle, received_at: float) -> bool:
    """Store a closed candle; ``False`` if it was already stored."""
    status: str = await conn.execute(
        "INSERT INTO candles (venue, symbol, tf, open_time, close_time, open, high, low, close,"
        " volume, received_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
        " ON CONFLICT DO NOTHING",
        *_candle_args(c, received_at),
    )
    return status.endswith(" 1")


async def save_features(
    conn: asyncpg.Connection,
    c: Candle,
    values: dict[str, float],
    state: bytes,
    analysis_state: bytes | None = None,
) -> None:
    """Upsert the indicator row for a candle and the stream's step-function states (features,
    and SMC/retest/regime when given)."""
    fixed, extra = _indicator_args(values)
    await conn.execute(
        "INSERT INTO indicators (venue, symbol, tf, open_time, ema20, ema50, ema200, rsi14, macd,"
        " macd_signal, macd_hist, atr14, extra) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,"
        "$13) ON CONFLICT (venue, symbol, tf, open_time) DO UPDATE SET extra = EXCLUDED.extra",
        c.venue,
        c.symbol,
        c.tf,
        c.open_time,
        *fixed,
        extra,
    )
    await conn.execute(
        "INSERT INTO feature_state (venue, symbol, tf, open_time, state, analysis_state)"
        " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (venue, symbol, tf) DO UPDATE SET"
        " open_time = EXCLUDED.open_time, state = EXCLUDED.state,"
        " analysis_state = EXCLUDED.analysis_state",
        c.venue,
        c.symbol,
        c.tf,
        c.open_time,
        state,
        analysis_state,
    )


# The candles of a group of steps: one array per ``candles`` column ($1..$11, each row's values
# from :func:`_candle_args`), shared by both step statements.
_CANDLE_ROWS = """
WITH r AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                         $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[],
                         $10::numeric[], $11::timestamptz[]{more})
        AS r(venue, symbol, tf, open_time, close_time, open, high, low, close, volume,
             received_at{more_names})
), candle AS (
    INSERT INTO candles (venue, symbol, tf, open_time, close_time, open, high, low, close,
                         volume, received_at)
    SELECT venue, symbol, tf, open_time, close_time, open, high, low, close, volume,
           received_at
    FROM r ON CONFLICT DO NOTHING
)"""

_STEPS_SQL = (
    _CANDLE_ROWS.format(
        more=""",
                         $12::float8[], $13::float8[], $14::float8[], $15::float8[],
                         $16::float8[], $17::float8[], $18::float8[], $19::float8[],
                         $20::jsonb[], $21::bytea[], $22::bytea[], $23::bytea[],
                         $24::bytea[]""",
        more_names=""",
             ema20, ema50, ema200, rsi14, macd, macd_signal, macd_hist, atr14, extra,
             state, analysis_state, analysis_patch, agent_state""",
    )
    + """, ind AS (
    INSERT INTO indicators (venue, symbol, tf, open_time, ema20, ema50, ema200, rsi14, macd,
                            macd_signal, macd_hist, atr14, extra)
    SELECT venue, symbol, tf, open_time, ema20, ema50, ema200, rsi14, macd, macd_signal,
           macd_hist, atr14, extra
    FROM r ON CONFLICT (venue, symbol, tf, open_time) DO UPDATE SET extra = EXCLUDED.extra
)
INSERT INTO feature_state (venue, symbol, tf, open_time, state, analysis_state, analysis_patch,
                           agent_state)
SELECT venue, symbol, tf, open_time, state, analysis_state, analysis_patch, agent_state FROM r
ON CONFLICT (venue, symbol, tf) DO UPDATE SET
    open_time = EXCLUDED.open_time, state = EXCLUDED.state,
    analysis_state = coalesce(EXCLUDED.analysis_state, feature_state.analysis_state),
    analysis_patch = EXCLUDED.analysis_patch, agent_state = EXCLUDED.agent_state"""
)


def candle_step_args(
    c: Candle,
    received_at: float,
    values: dict[str, float],
    state: bytes,
    analysis_state: bytes | None,
    analysis_patch: bytes | None,
    agent_state: bytes | None,
) -> tuple[Any, ...]:
    """One candle's row of :func:`save_candle_steps`: ``analysis_state`` is the stream's
    new base (``None``: keep the saved one), ``analysis_patch`` the patch from the base to
    the stream's state after the candle (``None``: the base is that state); see
    :mod:`engine.state_patch`."""
    fixed, extra = _indicator_args(values)
    return (
        *_candle_args(c, received_at),
        *fixed,
        extra,
        state,
        analysis_state,
        analysis_patch,
        agent_state,
    )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as one list per column (the arrays the statements unnest)."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * width


async def save_candle_steps(conn: asyncpg.Connection, steps: list[tuple[Any, ...]]) -> None:
    """One statement for any number of candles of distinct streams (:func:`candle_step_args`
    each): the candles (kept if already stored), their indicator rows and the streams'
    step-function states (features; SMC/retest/regime; the agents')."""
    await conn.execute(_STEPS_SQL, *_columns(steps, 24))


_SUB_STEPS_SQL = (
    _CANDLE_ROWS.format(more=", $12::bytea[]", more_names=", state")
    + """
INSERT INTO feature_state (venue, symbol, tf, open_time, state)
SELECT venue, symbol, tf, open_time, state FROM r
ON CONFLICT (venue, symbol, tf) DO UPDATE SET
    open_time = EXCLUDED.open_time, state = EXCLUDED.state, analysis_state = NULL,
    analysis_patch = NULL"""
)


def sub_step_args(c: Candle, received_at: float, state: bytes) -> tuple[Any, ...]:
    """One sub-timeframe candle's row of :func:`save_sub_steps`."""
    return (*_candle_args(c, received_at), state)


async def save_sub_steps(conn: asyncpg.Connection, steps: list[tuple[Any, ...]]) -> None:
    """One statement for any number of sub-timeframe candles of distinct streams
    (:func:`sub_step_args` each): the candles (kept if already stored) and the sub-streams'
    states (in ``feature_state.state``; they have no indicators)."""
    await conn.execute(_SUB_STEPS_SQL, *_columns(steps, 12))


class SavedState(NamedTuple):
    """A stream's persisted step-function states: the open time of its last candle, the
    feature state, and the analysis state as stored — its base and the patch from the base
    to the state (:mod:`engine.state_patch`; each ``None`` if never saved)."""

    open_time: int
    state: bytes
    analysis_base: bytes | None
    analysis_patch: bytes | None


async def load_feature_state(
    conn: asyncpg.Connection, venue: str, symbol: str, tf: str
) -> SavedState | None:
    """The persisted step-function states of a stream, if any."""
    row = await conn.fetchrow(
        "SELECT open_time, state, analysis_state, analysis_patch FROM feature_state"
        " WHERE venue=$1 AND symbol=$2 AND tf=$3",
        venue,
        symbol,
        tf,
    )
    if row is None:
        return None
    base, patch = row["analysis_state"], row["analysis_patch"]
    return SavedState(
        int(row["open_time"]),
        bytes(row["state"]),
        None if base is None else bytes(base),
        None if patch is None else bytes(patch),
    )


async def load_agent_state(
    conn: asyncpg.Connection, venue: str, symbol: str, tf: str
) -> bytes | None:
    """The persisted state of a stream's decision agents (``None`` if never saved)."""
    data = await conn.fetchval(
        "SELECT agent_state FROM feature_state WHERE venue=$1 AND symbol=$2 AND tf=$3",
        venue,
        symbol,
        tf,
    )
    return None if data is None else bytes(data)


async def trading_enabled(conn: asyncpg.Connection) -> bool:
    """The kill-switch flag (``control.trading_enabled``)."""
    value = await conn.fetchval("SELECT value FROM control WHERE key = 'trading_enabled'")
    return bool(value)


SNAPSHOT_KEYS = {"spot": "account_spot", "usdm": "account_usdm"}


async def sizing_equity(
    conn: asyncpg.Connection, market: str, prices: dict[str, Decimal]
) -> Decimal | None:
    """Equity to size a decision on: the router's latest account snapshot (cash and
    holdings, which change only with fills) marked at ``prices`` — the close of the candle
    being decided on — where the snapshot holds those symbols, else at the snapshot's own
    prices. The same candles and fills therefore give the same size whenever the snapshot
    was refreshed. ``None`` until the router published one."""
    snap = await conn.fetchval("SELECT value FROM control WHERE key = $1", SNAPSHOT_KEYS[market])
    if not isinstance(snap, dict):
        return await equity_quote(conn, market)
    total = Decimal(snap["cash"])
    for h in snap.get("holdings", []):
        qty = Decimal(h["quantity"])
        px = prices.get(h["symbol"])
        if market == "usdm":
            entry = Decimal(h["entry_price"])
            total += qty * (px - entry) if px is not None else Decimal(h["unrealized"])
        else:
            total += qty * (px if px is not None else Decimal(h["price"]))
    return total


async def open_decisions(conn: asyncpg.Connection, venue: str, symbol: str) -> int:
    """How many decisions on a symbol are pending, approved, routed or open."""
    n: int = await conn.fetchval(
        "SELECT count(*) FROM decisions WHERE venue=$1 AND symbol=$2 AND state = ANY($3)",
        venue,
        symbol,
        list(OPEN_STATES),
    )
    return n


async def insert_signal(conn: asyncpg.Connection, s: SignalRaw) -> int | None:
    """Record a raw signal; ``None`` if this candle's signal was already recorded."""
    sid: int | None = await conn.fetchval(
        "INSERT INTO signals (agent, venue, symbol, tf, open_time, side, score, payload)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING RETURNING id",
        s.agent,
        s.venue,
        s.symbol,
        s.tf,
        s.open_time,
        s.side_hint,
        s.score,
        s.model_dump(mode="json", by_alias=True),
    )
    return sid


async def insert_decision(
    conn: asyncpg.Connection,
    signal_id: int,
    s: SignalRaw,
    bracket: Bracket,
    ttl_s: int,
    received_at: float,
    regime: str | None = None,
    guards: dict[str, Any] | None = None,
) -> int | None:
    """Write a PENDING decision (with the stream's regime and the guards' verdicts, if
    known) and announce it with ``NOTIFY gl_decisions``."""
    did: int | None = await conn.fetchval(
        "INSERT INTO decisions (signal_id, venue, market, symbol, tf, open_time, side, state,"
        " bracket, signal, expires_at, candle_received_at, regime, guards)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$13,$8,$9,$10,$11,$12,$14)"
        " ON CONFLICT DO NOTHING RETURNING id",
        signal_id,
        s.venue,
        bracket.market.value,
        s.symbol,
        s.tf,
        s.open_time,
        bracket.side.value,
        bracket.model_dump(mode="json"),
        s.model_dump(mode="json", by_alias=True),
        datetime.now(UTC) + timedelta(seconds=ttl_s),
        datetime.fromtimestamp(received_at, UTC),
        regime or None,
        INITIAL.value,  # a decision is born PENDING; greenlight.core.lifecycle moves it on
        guards,
    )
    if did is not None:
        await notify(conn, NotifyChannel.DECISIONS, did)
        await audit(conn, "engine", "decision.created", did, {"signal_id": signal_id})
    return did
