"""Candle → features → SMC → retest → regime → agents → guards → decision on real data:
restart parity of every stage and agent, live rows equal to the batch run, the retest agent
and the volatility guard."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import numpy as np

from bot import queries
from bot.render import confirmation_text
from bot.snapshot import DecisionCharts, structure_overlays
from engine.events import Candle
from engine.features import compute_batch
from engine.pipeline import StreamProcessor
from engine.regime import kernel as RK
from engine.regime.classifier import RegimeParams, regime_changes, run_regime_batch
from engine.smc.engine import SmcParams, run_smc_batch
from engine.smc.tables import swings_table, zones_table
from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.contracts import Bracket
from greenlight.core.settings import (
    RegimeSettings,
    Settings,
    StrategySettings,
    VolatilitySettings,
)
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.integration.pipeline_support import LOOSE_RISK, SETTINGS
from tests.symbol_rules import BTCUSDT as RULES

N = 2500


def candles(c: CandleArrays, start: int, stop: int) -> list[Candle]:
    return candle_rows(c, "sim", "BTCUSDT", "15m", 900_000, start, stop)


async def run(pool: asyncpg.Pool, rows: list[Candle], proc: StreamProcessor | None = None) -> None:
    proc = proc or StreamProcessor(SETTINGS, "sim", RULES, "15m")
    for c in rows:
        await proc.process(pool, c, 0.0, live=True)


ANALYSIS_QUERIES = {
    "swings": "SELECT pivot_time, known_time, kind, label, price FROM swings ORDER BY 1, 3",
    "smc_events": "SELECT open_time, kind, level, ref_swing_time FROM smc_events ORDER BY 1, 2",
    "zones": "SELECT kind, direction, start_time, known_time, top, bottom, mitigated_time,"
    " expired_time FROM zones ORDER BY start_time, kind",
    "regimes": "SELECT open_time, regime, detail FROM regimes ORDER BY 1",
    "signals": "SELECT agent, open_time, side, score, payload FROM signals ORDER BY 1, 2",
}


async def snapshot(pool: asyncpg.Pool) -> tuple[list[int], list[tuple[float, ...]]]:
    async with pool.acquire() as conn:
        d = [r["open_time"] for r in await conn.fetch("SELECT open_time FROM decisions ORDER BY 1")]
        ind = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT ema20, ema200, rsi14, macd_hist, atr14 FROM indicators ORDER BY open_time"
            )
        ]
    return d, ind


async def analysis_rows(pool: asyncpg.Pool) -> dict[str, list[tuple[object, ...]]]:
    async with pool.acquire() as conn:
        return {k: [tuple(r) for r in await conn.fetch(q)] for k, q in ANALYSIS_QUERIES.items()}


async def test_restart_resumes_with_identical_decisions(
    db_url: str, pool: asyncpg.Pool, pg_server_url: str
) -> None:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    rows = candles(data, 0, N)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO control (key, value) VALUES ('equity_quote', '10000')")
    await run(pool, rows[:1200])
    # a new process: restores feature state from the database and continues
    proc = StreamProcessor(SETTINGS, "sim", RULES, "15m")
    async with pool.acquire() as conn:
        assert await proc.restore(conn) == rows[1199].open_time
    await run(pool, rows[1100:], proc)  # overlapping replay: already-seen candles are skipped
    split = await snapshot(pool)
    split_analysis = await analysis_rows(pool)

    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE candles, indicators, feature_state, signals, decisions, swings, smc_events,"
            " zones, regimes CASCADE"
        )
    await run(pool, rows)
    whole = await snapshot(pool)
    assert split[0] == whole[0] and len(whole[0]) >= 3, whole[0]
    assert len(whole[1]) == N
    np.testing.assert_array_equal(np.array(split[1]), np.array(whole[1]))  # NaN == NaN here
    whole_analysis = await analysis_rows(pool)
    for table, got in whole_analysis.items():
        assert len(got) > 0, table
        assert split_analysis[table] == got, table
    agents = {r[0] for r in whole_analysis["signals"]}
    assert agents == {"starter.v1", "retest.v1", "fusion.v1"}  # every agent's, restarted too
    assert_rows_equal_batch(data.slice(0, N), whole_analysis)


def assert_rows_equal_batch(c: CandleArrays, rows: dict[str, list[tuple[object, ...]]]) -> None:
    """The live rows are exactly what the batch stages compute over the same candles."""
    ev, _ = run_smc_batch(c, SmcParams())
    sw = swings_table(ev)
    expected_swings = sorted(
        (int(p), int(k), kind, label or None, float(price))
        for p, k, kind, label, price in zip(
            sw["pivot_time_ms_utc"],
            sw["known_time_ms_utc"],
            sw["kind"],
            sw["label"],
            sw["price"],
            strict=True,
        )
    )
    assert rows["swings"] == expected_swings
    zn = zones_table(ev)
    ends = zip(zn["end_time_ms_utc"], zn["end_reason"], strict=True)
    expected_zones = {
        (
            int(s),
            kind,
            int(k),
            int(e) if r == "mitigated" else None,
            int(e) if r == "expired" else None,
        )
        for s, kind, k, (e, r) in zip(
            zn["start_time_ms_utc"], zn["kind"], zn["known_time_ms_utc"], ends, strict=True
        )
    }
    got_zones = {(r[2], r[0], r[3], r[6], r[7]) for r in rows["zones"]}
    assert got_zones == expected_zones
    f = compute_batch(c)
    out, _ = run_regime_batch(f["adx14"], f["atr14"], c.close, f["bb_width"], RegimeParams())
    changes = [
        (int(c.open_time[i]), RK.NAMES[int(out[i, RK.O_REGIME])])
        for i in regime_changes(out)
        if out[i, RK.O_REGIME] != RK.UNKNOWN
    ]
    assert [(r[0], r[1]) for r in rows["regimes"]] == changes


async def test_no_decision_when_trading_is_off_or_equity_unknown(pool: asyncpg.Pool) -> None:
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    await run(pool, candles(data, 0, N))
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM decisions") == 0
        assert await conn.fetchval("SELECT count(*) FROM signals") >= 3


async def test_retest_agent_decides_and_shock_regime_gates(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # A low SHOCK threshold makes the volatility guard bite on real data within a short run.
    settings = Settings(
        risk=LOOSE_RISK,
        strategy=StrategySettings(agent="retest"),
        regime=RegimeSettings(shock_pct=0.5),
        volatility=VolatilitySettings(block=("SHOCK",)),
    )
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO control (key, value) VALUES ('equity_quote', '10000')")
    proc = StreamProcessor(settings, "sim", RULES, "15m")
    outcomes = [await proc.process(pool, c, 0.0, live=True) for c in candles(data, 0, N)]
    async with pool.acquire() as conn:
        decisions = await conn.fetch("SELECT signal, regime FROM decisions ORDER BY open_time")
        skipped = await conn.fetch(
            "SELECT detail FROM audit_log WHERE action = 'signal.skipped' ORDER BY id"
        )
    assert len(decisions) >= 1
    for d in decisions:
        assert d["signal"]["agent"] == "retest.v1"
        assert d["regime"] in ("TREND", "RANGE")
    vol = [r["detail"] for r in skipped if r["detail"]["category"] == "vol"]
    why = "Vol SHOCK: ATR in its highest percentiles (ATR pct"
    assert vol and all(d["reason"].startswith(why) for d in vol)
    shock = [o for o in outcomes if o.category == "vol"]
    assert shock and all(o.regime == "SHOCK" and o.decision_id is None for o in shock)
    assert all(o.guards["vol"].state == "SHOCK" and o.guards["vol"].blocking for o in shock)
    assert all(o.signal.agent == "retest.v1" for o in shock if o.signal is not None)
    await check_decision_chart_and_text(pool, tmp_path)


async def check_decision_chart_and_text(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """The first decision's chart shows the structure known at its candle; its confirmation
    shows the stored regime."""
    async with pool.acquire() as conn:
        did = await conn.fetchval("SELECT min(id) FROM decisions")
        d = await queries.decision(conn, did)
        assert d is not None
        first = d["open_time"] - 149 * 900_000
        markers, zones = await structure_overlays(conn, d, first, 1.0, 1e9)
        live_zones = await conn.fetchval(
            "SELECT count(*) FROM zones WHERE known_time <= $1 AND start_time >= $2"
            " AND coalesce(mitigated_time, expired_time, $1 + 1) > $1",
            d["open_time"],
            2 * first - d["open_time"],
        )
    swings = [m for m in markers if m.kind.startswith("swing")]
    breaks = [m for m in markers if m.kind in ("bos", "choch")]
    assert len(swings) >= 4 and {m.text for m in swings} <= {"HH", "LH", "HL", "LL", "H", "L"}
    assert breaks and all(first <= m.time <= d["open_time"] for m in breaks)
    assert len(zones) == min(live_zones, 30) and len(zones) > 0
    charts = DecisionCharts(pool, tmp_path, candles=150)
    try:
        path = await charts.for_decision(d)
    finally:
        charts.close()
    assert path is not None and path.stat().st_size > 10_000
    text = confirmation_text(
        d,
        Bracket.model_validate(d["bracket"]),
        Decimal("0.01"),
        Decimal("0.00001"),
        d["created_at"],
    )
    assert f"regime {d['regime']}" in text and d["regime"] in ("TREND", "RANGE")
