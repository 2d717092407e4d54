"""Replay clock: intra-candle path, update ordering, visibility, pause/speed/max_candles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from greenlight.core.candlefile import CandleArrays, read_candles
from sim.replay.clock import DAY_MS, market_shift, shift_to_today
from sim.replay.player import Replay, candle_vertices, partial_update
from tests.helpers import eventually

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return read_candles(REPO / "data" / "BTCUSDT-15m-2019-2020.csv.gz").slice(0, 400)


def test_path_order_follows_candle_direction() -> None:
    assert candle_vertices(10, 12, 9, 11) == (10, 9, 12, 11)  # bullish O→L→H→C
    assert candle_vertices(11, 12, 9, 10) == (11, 12, 9, 10)  # bearish O→H→L→C


def test_partial_updates_grow_to_the_real_candle() -> None:
    ohlcv = (100.0, 130.0, 90.0, 120.0, 60.0)
    first = partial_update("X", ohlcv, (0, 899), 0.0, 1 / 3, 2)
    assert (first.high, first.low, first.close, first.volume) == (100.0, 90.0, 90.0, 20.0)
    assert first.path == (100.0, 90.0) and not first.closed
    second = partial_update("X", ohlcv, (0, 899), 1 / 3, 2 / 3, 2)
    assert (second.high, second.low, second.close, second.path) == (130.0, 90.0, 130.0, (130.0,))
    last = partial_update("X", ohlcv, (0, 899), 2 / 3, 1.0, 2)
    assert last.closed and (last.open, last.high, last.low, last.close, last.volume) == ohlcv


def test_steps_emit_k_open_updates_then_close_with_file_values(btc: CandleArrays) -> None:
    r = Replay({"BTCUSDT": btc}, 900_000, history_candles=100, updates_per_candle=3)
    assert r.visible_range("BTCUSDT") == (0, 100)
    assert r.last_price["BTCUSDT"] == float(btc.close[99])
    seen = [r.step()[0] for _ in range(4)]
    assert [u.closed for u in seen] == [False, False, False, True]
    assert {u.open_time for u in seen} == {int(btc.open_time[100])}
    final = seen[-1]
    assert (final.open, final.high, final.low, final.close) == (
        float(btc.open[100]),
        float(btc.high[100]),
        float(btc.low[100]),
        float(btc.close[100]),
    )
    assert all(u.high <= final.high and u.low >= final.low for u in seen)
    assert r.visible_range("BTCUSDT") == (0, 101) and r.replayed == 1
    assert r.last_price["BTCUSDT"] == final.close


def test_max_candles_finishes_and_start_index_hides_earlier_rows(btc: CandleArrays) -> None:
    r = Replay({"BTCUSDT": btc}, 900_000, history_candles=10, start_index=50, max_candles=3)
    assert r.visible_range("BTCUSDT") == (50, 60)
    for _ in range(20):
        r.step()
    assert r.finished and r.replayed == 3 and r.visible_range("BTCUSDT") == (50, 63)


def test_second_symbol_follows_the_first_symbols_timeline(btc: CandleArrays) -> None:
    other = btc.slice(5, 400)  # starts 5 candles later
    r = Replay({"BTCUSDT": btc, "ETHUSDT": other}, 900_000, history_candles=3, updates_per_candle=0)
    assert r.visible_range("ETHUSDT") == (0, 0)
    symbols = [[u.symbol for u in r.step()] for _ in range(3)]
    assert symbols == [["BTCUSDT"], ["BTCUSDT"], ["BTCUSDT", "ETHUSDT"]]
    assert r.visible_range("ETHUSDT") == (0, 1)


def test_symbol_from_another_period_keeps_its_own_clock(btc: CandleArrays) -> None:
    rows = btc.slice(0, 100)
    year = 365 * 86_400_000  # the same candles a year later: no open time in common
    later = CandleArrays(
        rows.open_time + year, rows.open, rows.high, rows.low, rows.close, rows.volume, True
    )
    r = Replay(
        {"BTCUSDT": btc, "LATERUSDT": later}, 900_000, history_candles=300, updates_per_candle=0
    )
    assert r.visible_range("LATERUSDT") == (0, 50)  # history capped at half of its rows
    first = r.step()
    assert [u.symbol for u in first] == ["BTCUSDT", "LATERUSDT"]
    assert first[1].open_time == int(later.open_time[50]) and first[1].close == later.close[50]
    for _ in range(60):
        r.step()
    assert r.visible_range("LATERUSDT") == (0, 100) and not r.finished


async def test_run_paces_pauses_and_changes_speed(btc: CandleArrays) -> None:
    r = Replay(
        {"BTCUSDT": btc}, 900_000, history_candles=10, candles_per_second=400, max_candles=300
    )
    task = asyncio.create_task(r.run())
    await eventually(lambda: _ready(r.replayed >= 20), 5, "20 candles")
    r.pause()
    await asyncio.sleep(0)
    held = r.replayed
    for _ in range(50):  # give the paused run loop many chances to (wrongly) advance
        await asyncio.sleep(0)
    assert r.replayed == held
    r.set_speed(2000)
    r.resume()
    await eventually(lambda: _ready(r.finished), 5, "replay finished")
    assert r.replayed == 300
    await asyncio.wait_for(task, 1)


async def _ready(value: bool) -> bool:
    return value


def test_market_clock_follows_the_replay_and_advance_moves_it(btc: CandleArrays) -> None:
    r = Replay({"BTCUSDT": btc}, 900_000, history_candles=100, updates_per_candle=2)
    start = int(btc.open_time[100])
    assert r.now_ms == start  # nothing replayed yet: the first candle opens now
    u = r.step()[0]
    assert r.now_ms == start + 300_000 == u.hist_time  # one third into the candle
    assert r.advance(900_000) == 3  # one 15m candle later: the rest of this one, one more
    assert r.now_ms == start + 1_200_000 and r.replayed == 1
    assert r.advance(1) == 1 and r.now_ms == start + 1_500_000


def test_whole_day_shift_lands_the_first_candle_within_half_a_day_of_now() -> None:
    first = 1_546_281_000_000  # 2018-12-31 18:30 UTC
    for now in (1_796_515_200_000, 1_796_515_200_000 + 11 * 3_600_000, 1_796_558_399_999):
        shift = shift_to_today(first, now)
        assert shift % DAY_MS == 0 and abs(first + shift - now) <= DAY_MS // 2


def test_a_market_shifted_to_an_anchor_keeps_its_offset_from_it(btc: CandleArrays) -> None:
    """Shifted to land nearest an anchor (the USD-M market to the spot replay's start), a
    market's start keeps one offset from that anchor's time of day, whatever the anchor."""
    first = int(btc.open_time[100])
    for anchor in range(1_796_515_200_000, 1_796_515_200_000 + 2 * DAY_MS, 1_800_000):
        shift = market_shift("now", {"BTCUSDT": btc}, 100, anchor)
        assert shift % DAY_MS == 0 and abs(first + shift - anchor) <= DAY_MS // 2
    assert market_shift("historical", {"BTCUSDT": btc}, 100, anchor) == 0
