"""The live pipeline with the product's rule: the same decisions as the batch run, the bundled
calendar meeting real events in a replay moved onto another calendar, the venue's clock
shift learned from the simulator, and a failing agent plugin quarantined while the pipeline
goes on."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from engine.agents.registry import load_agents
from engine.decisions_batch import run_decisions
from engine.features import FeatureParams
from engine.guards.jobs import ClockShiftError, venue_clock_shift
from engine.guards.news_calendar import parse_time, read_calendar
from engine.pipeline import StreamProcessor
from greenlight.core.candlefile import read_candles
from greenlight.core.settings import AgentsSettings, RiskSettings, Settings, StrategySettings
from sim.server import SimConfig
from tests.candle_rows import candle_rows
from tests.conftest import DATA
from tests.integration.sim_support import running_sim
from tests.symbol_rules import BTCUSDT as RULES

CALENDAR = DATA / "news/us-macro-2019-2021.csv"
LOOSE = RiskSettings(
    max_open_positions=100, max_symbol_risk=D(1), max_total_risk=D(1), daily_loss_cap=D(1)
)
TF = 900_000
DAY = 86_400_000


async def test_live_fusion_decides_as_the_batch_run(pool: asyncpg.Pool) -> None:
    n = 5000
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    settings = Settings(risk=LOOSE)
    await pool.execute("INSERT INTO control (key, value) VALUES ('equity_quote', '10000')")
    proc = StreamProcessor(settings, "sim", RULES, "15m")
    outcomes = {}
    for c in candle_rows(data, "sim", "BTCUSDT", "15m", TF, 0, n):
        out = await proc.process(pool, c, 0.0, live=True)
        if out.signal is not None:
            outcomes[c.open_time] = out
    agents = load_agents(settings, frozenset(FeatureParams().names()))
    batch = run_decisions(
        data.slice(0, n), settings, agents, "BTCUSDT", "15m", read_calendar(CALENDAR)
    )
    assert [r.open_time for r in batch] == list(outcomes) and len(batch) == 8
    for r in batch:
        live = outcomes[r.open_time]
        assert live.signal is not None and live.signal.agent == "fusion.v1"
        assert (live.category or "") == r.blocked_by, (r, live)
        assert (live.decision_id is not None) == r.taken
    async with pool.acquire() as conn:
        d = await conn.fetchrow("SELECT bracket, signal, guards FROM decisions")
    assert d["signal"]["setup"] is not None and d["guards"]["line"].startswith("News SAFE")


async def test_the_bundled_calendar_meets_real_events_in_a_shifted_replay(
    pool: asyncpg.Pool,
) -> None:
    """Candles moved 2600 days onto another calendar still meet the FOMC of 2019-01-30."""
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    shift = 2600 * DAY
    fomc = parse_time("2019-01-30T19:00:00Z")
    first = int((fomc - 2 * 3_600_000 - int(data.open_time[0])) // TF)  # gaps come later
    rows = candle_rows(data, "sim", "BTCUSDT", "15m", TF, first, first + 20)
    proc = StreamProcessor(Settings(), "sim", RULES, "15m", clock_shift_ms=shift)
    blocked = []
    for c in rows:
        times = {"open_time": c.open_time + shift, "close_time": c.close_time + shift}
        moved = c.model_copy(update=times)
        out = await proc.process(pool, moved, 0.0, live=True)
        if out.guards["news"].blocking:
            blocked.append(c.open_time + TF)  # the real time the candle closed
    # 30 min before the statement to 60 min after the press conference's end
    assert blocked == list(range(fomc - 30 * 60_000, fomc + 2 * 3_600_000 + 1, TF))
    row = await pool.fetchrow("SELECT * FROM guard_state WHERE name = 'news'")
    assert row["state"] == "SAFE" and row["at_ms"] == rows[-1].open_time + TF + shift


async def test_the_clock_shift_comes_from_the_simulator() -> None:
    async with running_sim(SimConfig(files={"BTCUSDT": Path("x")})) as sim:
        assert sim.state is not None
        async with aiohttp.ClientSession() as http:
            got = await venue_clock_shift(http, "sim", sim.base_url, futures=False)
            assert got == sim.state.spot.replay.shift_ms and got % DAY == 0 and got > 0
            assert await venue_clock_shift(http, "binance", "https://x.invalid", False) == 0
            with pytest.raises(ClockShiftError, match="clock_shift_ms"):
                await venue_clock_shift(http, "sim", sim.base_url, futures=True)  # no futures


EXPLODING = """
import numpy as np

class Exploding:
    name = "exploding"
    inputs = ("ema200", "smc")

    def new_state(self):
        return {"bars": np.zeros(1)}

    def on_bar(self, ctx, bar, feats, state):
        state["bars"][0] += 1
        if state["bars"][0] == 50:
            raise ZeroDivisionError("deliberately broken plugin")
        return []

def plugin(settings):
    return Exploding()
"""


async def test_a_failing_plugin_is_quarantined_and_the_pipeline_goes_on(
    pool: asyncpg.Pool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "exploding.py").write_text(EXPLODING)
    (folder / "nonsense.py").write_text("def plugin(settings):\n    return object()\n")
    (folder / "unknown_input.py").write_text(
        EXPLODING.replace('"exploding"', '"other"').replace('"ema200"', '"ema999"')
    )
    settings = Settings(
        agents=AgentsSettings(plugins_dir=str(folder)),
        strategy=StrategySettings(agent="exploding"),
    )
    agents = load_agents(settings, frozenset(FeatureParams().names()))
    assert set(agents.agents) == {"starter", "retest", "fusion", "exploding"}
    assert "nonsense" in caplog.text and "not a Bot" in caplog.text
    assert "reads unknown inputs ['ema999']" in caplog.text
    data = read_candles(DATA / "BTCUSDT-15m-2019-2020.csv.gz")
    rows = candle_rows(data, "sim", "BTCUSDT", "15m", TF, 0, 400)
    a = StreamProcessor(settings, "sim", RULES, "15m", agents=agents)
    b = StreamProcessor(settings, "other", RULES, "15m", agents=agents)
    for c in rows:
        await a.process(pool, c, 0.0, live=True)
        await b.process(pool, c.model_copy(update={"venue": "other"}), 0.0, live=True)
    assert a.last_open_time == b.last_open_time == rows[-1].open_time
    assert set(agents.quarantined) == {"exploding"}
    assert "ZeroDivisionError: deliberately broken plugin" in agents.quarantined["exploding"]
    async with pool.acquire() as conn:
        audits = await conn.fetch("SELECT detail FROM audit_log WHERE action='agent.quarantined'")
        alerts = await conn.fetch("SELECT kind, text FROM alerts")
        later = await conn.fetchval(
            "SELECT count(*) FROM signals WHERE open_time > $1", rows[60].open_time
        )
        candles = await conn.fetchval("SELECT count(*) FROM candles WHERE venue = 'sim'")
    assert [r["detail"]["agent"] for r in audits] == ["exploding"]  # once, not per stream
    assert audits[0]["detail"]["open_time"] == rows[49].open_time
    assert [(r["kind"], "quarantined" in r["text"]) for r in alerts] == [("error", True)]
    assert "No decisions until the engine restarts" in alerts[0]["text"]
    assert later > 0 and candles == len(rows)  # the other agents and the stages went on
