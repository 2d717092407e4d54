"""The decision stage against a real database, one row per path: every guard, the kill
switch, equity, one decision per setup, costs, every exposure limit, sizing — and a
property: whatever the guards say, no decision is written while one of them blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import store
from engine.decision.decide import Decider
from engine.guards.verdict import Verdict
from greenlight.core.contracts import Bracket, Market, SignalRaw
from greenlight.core.settings import RiskSettings, Settings
from tests.symbol_rules import BTCUSDT as RULES

TF = 900_000
NOW = 1_548_000_000_000 // TF * TF  # a candle close, 2019-01-20
SAFE = {
    "news": Verdict("news", "SAFE", False, "", NOW + 3_600_000),
    "funding": Verdict("funding", "N/A", False, "spot: no funding"),
    "vol": Verdict("vol", "OK", False, "ATR pct 0.50, BB-width pct 0.50"),
}


def signal(
    stop: float = 58_800.0, setup: int | None = None, open_time: int = NOW - TF
) -> SignalRaw:
    return SignalRaw(
        agent="fusion.v1",
        venue="sim",
        symbol="BTCUSDT",
        tf="15m",
        open_time=open_time,
        side_hint="long",
        entry_hint=60_000.0,
        sl_hint=stop,
        tpR=(1.5, 2.0, 3.0),
        features={"choch_bos": True, "retest": True},
        score=0.7,
        ttl_bars=2,
        why="test",
        setup=setup,
    )


async def prior(
    conn: asyncpg.Connection,
    state: str,
    symbol: str = "BTCUSDT",
    risk: str = "50",
    pnl: str | None = None,
    setup: int | None = None,
    open_time: int = NOW - 50 * TF,
) -> None:
    """A decision already there (pending, open or closed today)."""
    sig = signal(setup=setup, open_time=open_time).model_copy(update={"symbol": symbol})
    bracket = {"quantity": "0.01", "entry_price": "60000", "risk_quote": risk, "leverage": 1}
    await conn.execute(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at, realized_pnl) VALUES ('sim', 'spot', $1, '15m', $2, 'BUY', $3,"
        " $4, $5, now(), $6)",
        symbol,
        open_time,
        state,
        bracket,
        sig.model_dump(mode="json", by_alias=True),
        None if pnl is None else D(pnl),
    )


@dataclass
class Case:
    category: str | None  # None: a decision is written
    verdicts: dict[str, Verdict] = field(default_factory=lambda: dict(SAFE))
    signal: SignalRaw = field(default_factory=signal)
    risk: dict[str, Any] = field(default_factory=dict)
    equity: str | None = "10000"
    trading: bool = True
    before: list[dict[str, Any]] = field(default_factory=list)


def blocked(name: str, state: str) -> dict[str, Verdict]:
    return {**SAFE, name: Verdict(name, state, True, "test", NOW + TF)}


CASES = {
    "taken": Case(None),
    "news": Case("news", blocked("news", "BLOCK")),
    "funding": Case("funding", blocked("funding", "BLOCK")),
    "vol chop": Case("vol", blocked("vol", "CHOP")),
    "vol shock": Case("vol", blocked("vol", "SHOCK")),
    "news bypassed": Case(None, {**SAFE, "news": blocked("news", "BLOCK")["news"].bypassed()}),
    "kill switch": Case("kill", trading=False),
    "no equity": Case("equity", equity=None),
    "setup decided": Case(
        "setup", signal=signal(setup=1), before=[{"state": "CLOSED", "setup": 1}]
    ),
    "costs": Case("cost", signal=signal(stop=59_900.0)),
    "open decision": Case("exposure", before=[{"state": "PENDING"}]),
    "symbol risk": Case(
        "exposure",
        risk={"max_open_positions": 5},
        before=[{"state": "OPEN", "risk": "60"}],
    ),
    "total risk": Case(
        "exposure",
        risk={"max_total_risk": D("0.015")},
        before=[{"state": "OPEN", "symbol": "ETHUSDT", "risk": "110"}],
    ),
    "daily loss": Case(
        "exposure", before=[{"state": "CLOSED", "pnl": "-200", "open_time": NOW - 4 * TF}]
    ),
    "yesterday's loss": Case(
        None, before=[{"state": "CLOSED", "pnl": "-900", "open_time": NOW - 100 * TF}]
    ),
    "too small": Case("size", equity="1"),
}


async def decide(pool: asyncpg.Pool, case: Case) -> tuple[int | None, str | None]:
    s = Settings(risk=RiskSettings.model_validate(case.risk))
    decider = Decider(s, "sim", Market.SPOT, RULES, TF)
    async with pool.acquire() as conn:
        if case.equity is not None:
            await conn.execute(
                "INSERT INTO control (key, value) VALUES ('equity_quote', $1)", case.equity
            )
        await conn.execute(
            "UPDATE control SET value = $1 WHERE key = 'trading_enabled'", case.trading
        )
        for b in case.before:
            await prior(conn, **b)
        sid = await store.insert_signal(conn, case.signal)
        assert sid is not None
        async with conn.transaction():
            did, skip = await decider.decide(
                conn, case.signal, sid, 0.0, D(60_000), NOW, case.verdicts, "TREND"
            )
    return did, None if skip is None else skip.category


@pytest.mark.parametrize("name", list(CASES))
async def test_decision_table(pool: asyncpg.Pool, name: str) -> None:
    case = CASES[name]
    did, category = await decide(pool, case)
    assert category == case.category
    async with pool.acquire() as conn:
        skipped = await conn.fetch(
            "SELECT detail FROM audit_log WHERE action = 'signal.skipped' ORDER BY id"
        )
        row = await conn.fetchrow("SELECT * FROM decisions WHERE id = $1", did)
    if case.category is not None:
        assert did is None and [r["detail"]["category"] for r in skipped] == [case.category]
        return
    assert row is not None and not skipped
    b = Bracket.model_validate(row["bracket"])
    # the loss at the stop, fees and slippage included, is the budget (within one lot step)
    assert D("49.5") <= b.risk_quote <= D("50.00")
    costs = b.quantity * D("0.0012") * (b.entry_price + b.stop_price)  # fee 0.1 % + slip 0.02 %
    assert b.cost_quote == costs.quantize(D("0.01")) > 0
    assert all(leg.r_net is not None and leg.r_net < leg.r_multiple for leg in b.take_profits)
    assert (row["expires_at"] - row["created_at"]).total_seconds() == pytest.approx(1800, abs=5)
    news = "News BLOCK (off)" if "bypassed" in name else "News SAFE"
    assert row["guards"]["line"] == f"{news} · Funding n/a · Vol OK · regime TREND"


VERDICT = st.sampled_from([("SAFE", False), ("BLOCK", True)])  # news / funding; vol below


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    news=VERDICT,
    funding=st.sampled_from([("N/A", False), ("SAFE", False), ("BLOCK", True)]),
    vol=st.sampled_from(["OK", "CHOP", "SHOCK", "UNKNOWN"]),
    vol_blocks=st.sets(st.sampled_from(["CHOP", "SHOCK"])),
    off=st.sets(st.sampled_from(["news", "funding", "vol"])),
)
async def test_no_decision_while_any_guard_blocks(
    pool: asyncpg.Pool,
    news: tuple[str, bool],
    funding: tuple[str, bool],
    vol: str,
    vol_blocks: set[str],
    off: set[str],
) -> None:
    verdicts = {
        "news": Verdict("news", news[0], news[1], "x", NOW + TF),
        "funding": Verdict("funding", funding[0], funding[1], "x", NOW + TF),
        "vol": Verdict("vol", vol, vol == "UNKNOWN" or vol in vol_blocks, "x"),
    }
    verdicts = {n: v.bypassed() if n in off else v for n, v in verdicts.items()}
    decider = Decider(Settings(), "sim", Market.SPOT, RULES, TF)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("INSERT INTO control (key, value) VALUES ('equity_quote', '10000')")
            sid = await store.insert_signal(conn, signal())
            assert sid is not None
            did, skip = await decider.decide(conn, signal(), sid, 0.0, D(60_000), NOW, verdicts, "")
            written = await conn.fetchval("SELECT count(*) FROM decisions")
        finally:
            await tx.rollback()
    first = next((v for v in verdicts.values() if v.blocking), None)
    if first is not None:
        assert did is None and written == 0 and skip is not None and skip.category == first.guard
    else:
        assert did is not None and written == 1
