"""The guards on their own: news calendars (strict reading, windows, the venue's clock shift,
reload keeping the previous calendar), funding windows and rates, volatility states."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from engine.guards import vol as V
from engine.guards.funding import FundingBook, parse_premium_index
from engine.guards.news import CalendarFile, NewsGuard
from engine.guards.news_calendar import CalendarError, parse_time, read_calendar, symbol_assets
from engine.guards.verdict import guard_line
from engine.regime import kernel as RK
from greenlight.core.settings_decision import FundingSettings, NewsSettings, VolatilitySettings

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data/news/us-macro-2019-2021.csv"
BTC = symbol_assets("BTCUSDT", "BTC", "USDT")
HOUR = 3_600_000
DAY = 24 * HOUR
CSV = """# a comment
start,end,severity,scope,title
2019-01-30T19:00:00Z,2019-01-30T20:00:00Z,HIGH,USD,FOMC
2019-02-01T13:30:00+00:00,2019-02-01T13:30:00Z,MED,"ETH,SOL",ETH upgrade
2019-02-02T10:00:00Z,2019-02-02T10:00:00Z,LOW,ALL,minor
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_and_json_calendars_read_the_same_events(tmp_path: Path) -> None:
    events = read_calendar(write(tmp_path, "cal.csv", CSV))
    js = """[
      {"start": "2019-01-30T19:00:00Z", "end": "2019-01-30T20:00:00Z", "severity": "HIGH",
       "scope": "USD", "title": "FOMC"},
      {"start": "2019-02-01T13:30:00Z", "end": "2019-02-01T13:30:00Z", "severity": "MED",
       "scope": "ETH,SOL", "title": "ETH upgrade"},
      {"start": "2019-02-02T10:00:00Z", "end": "2019-02-02T10:00:00Z", "severity": "LOW",
       "scope": "ALL", "title": "minor"}
    ]"""
    assert [(e.start_ms, e.end_ms, e.severity, e.scope, e.title) for e in events] == [
        (e.start_ms, e.end_ms, e.severity, e.scope, e.title)
        for e in read_calendar(write(tmp_path, "cal.json", js))
    ]
    assert events[0].applies_to(BTC) and not events[1].applies_to(BTC)
    assert events[2].scope == frozenset() and events[2].applies_to(BTC)


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("2019-01-30T19:00:00,2019-01-30T20:00:00Z,HIGH,USD,x", "not UTC"),
        ("2019-01-30T19:00:00+01:00,2019-01-30T20:00:00Z,HIGH,USD,x", "not UTC"),
        ("2019-01-30T21:00:00Z,2019-01-30T20:00:00Z,HIGH,USD,x", "before start"),
        ("2019-01-30T19:00:00Z,2019-01-30T20:00:00Z,URGENT,USD,x", "severity"),
        ("2019-01-30T19:00:00Z,2019-01-30T20:00:00Z,HIGH,US-D,x", "not asset names"),
        ("2019-01-30T19:00:00Z,2019-01-30T20:00:00Z,HIGH,USD", "expected 5 fields"),
        ("2019-01-30T19:00:00Z,2019-01-30T20:00:00Z,HIGH,USD,", "empty title"),
    ],
)
def test_a_bad_row_refuses_the_file_with_its_line(tmp_path: Path, row: str, why: str) -> None:
    path = write(tmp_path, "bad.csv", CSV + row + "\n")
    with pytest.raises(CalendarError, match=rf"^bad\.csv:6: .*{why}"):
        read_calendar(path)


def test_json_errors_name_the_line(tmp_path: Path) -> None:
    good = '{"start": "2019-01-30T19:00:00Z", "end": "2019-01-30T19:00:00Z",'
    good += ' "severity": "HIGH", "scope": "ALL", "title": "a"}'
    bad = good.replace('"HIGH"', '"SOON"')
    with pytest.raises(CalendarError, match=r"^c\.json:3: severity 'SOON'"):
        read_calendar(write(tmp_path, "c.json", f"[\n  {good},\n  {bad}\n]"))
    extra = good.replace('"title": "a"', '"title": "a", "x": 1')
    with pytest.raises(CalendarError, match=r"^d\.json:2: unknown field\(s\) x"):
        read_calendar(write(tmp_path, "d.json", f"[\n{extra}]"))


def test_windows_per_severity_and_the_venue_clock_shift(tmp_path: Path) -> None:
    guard = NewsGuard(NewsSettings(), read_calendar(write(tmp_path, "cal.csv", CSV)))
    fomc = parse_time("2019-01-30T19:00:00Z")
    assert not guard.verdict(fomc - 31 * 60_000, BTC).blocking
    v = guard.verdict(fomc - 30 * 60_000, BTC)
    assert v.blocking and v.until_ms == fomc + 2 * HOUR and "FOMC" in v.reason
    assert guard.verdict(fomc + 2 * HOUR, BTC).blocking  # 60 min after the end
    assert not guard.verdict(fomc + 2 * HOUR + 1, BTC).blocking
    safe = guard.verdict(fomc - DAY, BTC)
    assert safe.state == "SAFE" and safe.until_ms == fomc - 30 * 60_000
    # candles replayed 2600 days later meet the event at the same candles
    shift = 2600 * DAY
    assert guard.verdict(fomc + shift, BTC, shift).blocking
    assert not guard.verdict(fomc, BTC, shift).blocking
    # LOW has a 0/0 window: shown, never blocks; MED scoped to ETH does not touch BTC
    minor = parse_time("2019-02-02T10:00:00Z")
    assert not guard.verdict(minor, BTC).blocking
    eth = symbol_assets("ETHUSDT")
    assert guard.verdict(parse_time("2019-02-01T13:30:00Z"), eth).blocking
    assert not guard.verdict(parse_time("2019-02-01T13:30:00Z"), BTC).blocking


def test_overlapping_windows_block_until_the_last_one_ends(tmp_path: Path) -> None:
    text = CSV.splitlines()[1] + "\n"
    text += "2019-03-01T12:00:00Z,2019-03-01T12:00:00Z,HIGH,ALL,a\n"
    text += "2019-03-01T13:00:00Z,2019-03-01T13:00:00Z,HIGH,ALL,b\n"
    guard = NewsGuard(NewsSettings(), read_calendar(write(tmp_path, "o.csv", text)))
    v = guard.verdict(parse_time("2019-03-01T12:10:00Z"), BTC)
    assert v.blocking and v.until_ms == parse_time("2019-03-01T14:00:00Z")


def test_a_changed_file_reloads_and_a_bad_one_keeps_the_previous_calendar(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "live.csv", CSV)
    guard = NewsGuard(NewsSettings())
    watch = CalendarFile(path, guard)
    assert "loaded: 3 events" in (watch.check() or "")
    assert watch.check() is None  # unchanged
    path.write_text(CSV + "2019-13-01T00:00:00Z,2019-13-01T00:00:00Z,HIGH,ALL,x\n")
    message = watch.check() or ""
    assert "refused: live.csv:6:" in message and "previous calendar stays" in message
    assert watch.error is not None and len(guard.events) == 3
    path.write_text(CSV.replace("FOMC", "FOMC statement"))
    assert "loaded" in (watch.check() or "") and watch.error is None
    assert guard.events[0].title == "FOMC statement"


def test_bundled_calendar_has_real_events_at_their_utc_times() -> None:
    events = read_calendar(BUNDLED)
    fomc = [e for e in events if e.title.startswith("FOMC")]
    cpi = [e for e in events if e.title.startswith("US CPI")]
    assert len(fomc) == 25 and len(cpi) == 36  # 8 + 7 + 2 unscheduled + 8; 12 a year
    starts = {e.start_ms for e in events}
    for when in (
        "2019-01-30T19:00:00Z",  # 14:00 EST
        "2019-03-20T18:00:00Z",  # 14:00 EDT
        "2020-03-15T21:00:00Z",  # the Sunday emergency cut
        "2021-11-03T18:00:00Z",
        "2019-01-11T13:30:00Z",  # CPI 08:30 EST
        "2020-04-10T12:30:00Z",  # CPI 08:30 EDT (Good Friday)
    ):
        assert parse_time(when) in starts, when
    assert all(e.severity == "HIGH" and e.scope == frozenset({"USD"}) for e in events)


def book() -> FundingBook:
    return FundingBook(FundingSettings())


def test_funding_windows_on_the_grid_and_the_rate_against_the_side() -> None:
    b = book()
    t = parse_time("2021-11-18T08:00:00Z")
    assert b.verdict("XRPUSDT", t).reason.startswith("funding unknown")
    answer = {"symbol": "XRPUSDT", "nextFundingTime": t, "lastFundingRate": "0.0001"}
    b.update(*parse_premium_index(answer))
    assert b.verdict("XRPUSDT", t - 15 * 60_000).blocking
    assert not b.verdict("XRPUSDT", t - 15 * 60_000 - 1).blocking
    assert b.verdict("XRPUSDT", t + 5 * 60_000).blocking
    safe = b.verdict("XRPUSDT", t + 5 * 60_000 + 1)
    assert not safe.blocking and safe.until_ms == t + 8 * HOUR - 15 * 60_000
    # the grid holds days later, whatever time the venue was asked
    later = t + 3 * DAY + 8 * HOUR
    assert b.window_at("XRPUSDT", later - 60_000) == later
    # a rate is used for the funding time it was quoted for, against the paying side
    b.update("XRPUSDT", t + 8 * HOUR, D("0.0008"))
    before = t + 4 * HOUR
    assert b.verdict("XRPUSDT", before, "long").blocking
    assert not b.verdict("XRPUSDT", before, "short").blocking
    assert not b.verdict("XRPUSDT", before + 8 * HOUR, "long").blocking  # no quote yet
    b.update("XRPUSDT", t + 16 * HOUR, D("-0.0009"))
    assert b.verdict("XRPUSDT", before + 8 * HOUR, "short").blocking


def test_volatility_states_from_the_regime_stage() -> None:
    s = VolatilitySettings()
    assert V.NAMES[V.vol_step(RK.SHOCK, 0.5, 0.2)] == "SHOCK"
    assert V.NAMES[V.vol_step(RK.RANGE, 0.2, 0.2)] == "CHOP"
    assert V.NAMES[V.vol_step(RK.RANGE, 0.21, 0.2)] == "OK"
    assert V.NAMES[V.vol_step(RK.TREND, 0.05, 0.2)] == "OK"
    assert V.NAMES[V.vol_step(RK.UNKNOWN, 0.5, 0.2)] == "UNKNOWN"
    assert V.vol_verdict(V.CHOP, s, 0.3, 0.1).blocking
    assert not V.vol_verdict(V.CHOP, VolatilitySettings(block=("SHOCK",)), 0.3, 0.1).blocking
    assert V.vol_verdict(V.UNKNOWN, VolatilitySettings(block=()), 0.3, 0.1).blocking
    out = np.zeros((4, RK.O_COLS))
    out[:, RK.O_REGIME] = [RK.SHOCK, RK.RANGE, RK.TREND, RK.UNKNOWN]
    out[:, RK.O_BBW_PCT] = [0.9, 0.1, 0.1, np.nan]
    assert [V.NAMES[k] for k in V.vol_states(out, s)] == ["SHOCK", "CHOP", "OK", "UNKNOWN"]


def test_guard_line_reads_in_two_seconds() -> None:
    b = book()
    t = parse_time("2021-11-18T08:00:00Z")
    b.update("XRPUSDT", t, D("0.0001"))
    now = t - 3 * HOUR - 25 * 60_000
    verdicts = {
        "news": NewsGuard(NewsSettings()).verdict(now, BTC),
        "funding": b.verdict("XRPUSDT", now),
        "vol": V.vol_verdict(V.OK, VolatilitySettings(), 0.4, 0.5),
    }
    assert guard_line(verdicts, now) == "News SAFE · Funding SAFE (next in 3h10) · Vol OK"
