"""``regime.v1`` events and their persistence in the ``regimes`` table."""

from __future__ import annotations

import json

import asyncpg
import numpy as np
import numpy.typing as npt

from engine.events import RegimeEvent
from engine.regime import kernel as K
from engine.regime.classifier import regime_changes

__all__ = ["RegimeEvent", "regime_events", "save_regimes"]

F64 = npt.NDArray[np.float64]

_SQL = """
INSERT INTO regimes (venue, symbol, tf, open_time, regime, detail)
VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING"""


def regime_events(
    out: F64, open_time: npt.NDArray[np.int64], venue: str, symbol: str, tf: str
) -> list[RegimeEvent]:
    """One event per change to a known regime (output rows of the regime stage)."""
    events = []
    for i in regime_changes(out):
        code = int(out[i, K.O_REGIME])
        if code == K.UNKNOWN:
            continue
        events.append(
            RegimeEvent(
                venue=venue,
                symbol=symbol,
                tf=tf,
                open_time=int(open_time[i]),
                regime=K.NAMES[code],
                adx=float(out[i, K.O_ADX]),
                atr_pct=float(out[i, K.O_ATR_PCT]),
                bbw_pct=float(out[i, K.O_BBW_PCT]),
            )
        )
    return events


async def save_regimes(conn: asyncpg.Connection, events: list[RegimeEvent]) -> None:
    """Insert regime changes (idempotent on (venue, symbol, tf, open_time))."""
    rows = [
        (
            e.venue,
            e.symbol,
            e.tf,
            e.open_time,
            e.regime,
            json.dumps({"adx": e.adx, "atr_pct": e.atr_pct, "bbw_pct": e.bbw_pct}),
        )
        for e in events
    ]
    if rows:
        await conn.executemany(_SQL, rows)
