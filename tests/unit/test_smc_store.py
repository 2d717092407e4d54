"""SMC and regime events on a real PostgreSQL: idempotent persistence."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import numpy as np

from engine.features import compute_batch
from engine.regime.classifier import RegimeParams, run_regime_batch
from engine.regime.events import RegimeEvent, regime_events, save_regimes
from engine.smc import layout as L
from engine.smc.engine import SmcParams, run_smc_batch
from engine.smc.store import save_smc_events
from greenlight.core.candlefile import read_candles

ROOT = Path(__file__).resolve().parents[2]
KEY = ("sim", "BTCUSDT", "15m")


def candles_and_events() -> tuple[object, np.ndarray]:
    c = read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz").slice(0, 3000)
    return c, run_smc_batch(c, SmcParams())[0]


async def test_persisted_once_even_when_replayed(pool: asyncpg.Pool) -> None:
    _, ev = candles_and_events()
    counts = await save_smc_events(pool, *KEY, ev)
    await save_smc_events(pool, *KEY, ev)  # replay after a restart: nothing doubles
    n_sw = await pool.fetchval("SELECT count(*) FROM swings")
    n_ev = await pool.fetchval("SELECT count(*) FROM smc_events")
    assert n_sw == counts["swings"] == int((ev[:, L.EV_TYPE] == L.T_SWING).sum())
    assert n_ev == counts["smc_events"]
    zones = await pool.fetch("SELECT kind, mitigated_time FROM zones")
    assert 0 < len(zones) <= counts["zones"]
    assert sum(z["mitigated_time"] is not None for z in zones) > 100


async def test_regime_changes_persisted(pool: asyncpg.Pool) -> None:
    c = read_candles(ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz").slice(0, 3000)
    f = compute_batch(c)
    out, _ = run_regime_batch(
        f["adx14"], f["atr14"], c.close, f["bb_width"], RegimeParams(window=300, min_periods=50)
    )
    events = regime_events(out, c.open_time, *KEY)
    assert len(events) > 10 and all(isinstance(e, RegimeEvent) for e in events)
    assert all(a.regime != b.regime for a, b in zip(events, events[1:], strict=False))
    async with pool.acquire() as conn:
        await save_regimes(conn, events)
        await save_regimes(conn, events)
    rows = await pool.fetch("SELECT open_time, regime, detail FROM regimes ORDER BY open_time")
    assert [(r["open_time"], r["regime"]) for r in rows] == [
        (e.open_time, e.regime) for e in events
    ]
