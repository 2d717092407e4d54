"""The product's rule on the bundled BTCUSDT data, batch: the golden decision list (pinned in
``tests/data/golden/fusion_btcusdt_15m_decisions.csv``, reviewed by hand — regenerate with
``python -m tests.unit.test_fusion_golden`` only when the rule is meant to change), and the
property that no decision is taken while a guard blocks, whatever the calendar."""

from __future__ import annotations

import csv
import sys
from functools import cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.agents.registry import AgentSet, load_agents
from engine.decisions_batch import COLUMNS, BatchDecision, decisions_table, run_decisions
from engine.features import FeatureParams
from engine.guards.news import NewsGuard
from engine.guards.news_calendar import NewsEvent, read_calendar, symbol_assets
from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data/BTCUSDT-15m-2019-2020.csv.gz"
CALENDAR = ROOT / "data/news/us-macro-2019-2021.csv"
GOLDEN = ROOT / "tests/data/golden/fusion_btcusdt_15m_decisions.csv"
TF = 900_000


@cache
def candles() -> CandleArrays:
    return read_candles(BTC)


@cache
def agents() -> AgentSet:
    return load_agents(Settings(), frozenset(FeatureParams().names()))


def fusion_rows() -> list[BatchDecision]:
    return run_decisions(candles(), Settings(), agents(), "BTCUSDT", "15m", read_calendar(CALENDAR))


def as_rows(decisions: list[BatchDecision]) -> list[dict[str, str]]:
    table = decisions_table(decisions)
    return [dict(zip(COLUMNS, cells, strict=True)) for cells in zip(*table.values(), strict=True)]


def test_golden_decision_list() -> None:
    with GOLDEN.open() as fh:
        golden = list(csv.DictReader(fh))
    got = as_rows(fusion_rows())
    assert len(got) == len(golden) == 107
    for g, row in zip(golden, got, strict=True):
        assert row == g
    taken = [r for r in got if r["taken"] == "true"]
    blocked = {k: sum(r["blocked_by"] == k for r in got) for k in ("news", "vol", "cost")}
    assert len(taken) == 31 and blocked == {"news": 2, "vol": 42, "cost": 32}
    assert {r["agent"] for r in got} == {"fusion.v1"} and {r["side"] for r in got} == {"long"}


def test_the_calendar_blocks_the_real_events_it_meets() -> None:
    news = [(r.open_time, r.reason) for r in fusion_rows() if r.blocked_by == "news"]
    assert news == [  # setups confirmed within the hour after the release, at their candles
        (1576071900000, "News BLOCK: HIGH US CPI (November 2019) at 2019-12-11 13:30 UTC"),
        (
            1580326200000,
            "News BLOCK: HIGH FOMC statement and press conference at 2020-01-29 19:00 UTC",
        ),
    ]


EVENT = st.builds(
    lambda start, hours, sev: NewsEvent(start, start + hours * 3_600_000, sev, frozenset(), "x"),
    st.integers(1_546_300_000_000, 1_551_000_000_000).map(lambda t: t // 60_000 * 60_000),
    st.integers(0, 6),
    st.sampled_from(["HIGH", "MED", "LOW"]),
)


@settings(max_examples=15, deadline=None)
@given(events=st.lists(EVENT, max_size=25), block=st.sets(st.sampled_from(["CHOP", "SHOCK"])))
def test_no_decision_is_taken_while_a_guard_blocks(
    events: list[NewsEvent], block: set[str]
) -> None:
    s = Settings.model_validate({"volatility": {"block": sorted(block)}})
    rows = run_decisions(candles().slice(0, 5000), s, agents(), "BTCUSDT", "15m", events)
    guard = NewsGuard(s.news, events)
    assets = symbol_assets("BTCUSDT")
    for r in rows:
        in_window = guard.verdict(r.open_time + TF, assets).blocking
        if in_window:
            assert not r.taken and r.blocked_by == "news"
        if r.taken:
            assert not in_window and r.blocked_by == ""
        if r.blocked_by == "vol":
            assert not r.taken


def main() -> None:
    """Rewrite the golden file (after a deliberate change of the rule; review the diff)."""
    table = decisions_table(fusion_rows())
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    with GOLDEN.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(zip(*table.values(), strict=True))
    print(f"wrote {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    main()
