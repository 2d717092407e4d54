from __future__ import annotations

import orjson
import pytest

from engine.ingest.stream import FrameError, is_live, parse_kline_event, parse_kline_frame

K = {
    "t": 1546281000000,
    "T": 1546281899999,
    "s": "BTCUSDT",
    "i": "15m",
    "f": 1,
    "L": 2,
    "o": "3740.38",
    "c": "3745.67",
    "h": "3748.98",
    "l": "3740.10",
    "v": "143.59544",
    "n": 10,
    "x": True,
    "q": "0",
    "V": "0",
    "Q": "0",
    "B": "0",
}


def frame(event_time: object = 1546281900005, **k: object) -> bytes:
    data = {"e": "kline", "E": event_time, "s": "BTCUSDT", "k": {**K, **k}}
    return orjson.dumps({"stream": "btcusdt@kline_15m", "data": data})


def test_closed_kline_is_decoded() -> None:
    c = parse_kline_frame("sim", frame())
    assert c is not None and c.open_time == 1546281000000 and c.close == 3745.67
    assert c.symbol == "BTCUSDT" and c.tf == "15m" and c.volume == 143.59544


def test_in_progress_updates_and_acks_are_ignored() -> None:
    assert parse_kline_frame("sim", frame(x=False)) is None
    assert parse_kline_frame("sim", b'{"result": null, "id": 1}') is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"stream": "x", "data": {"e": "trade"}}', "not a kline event"),
        (orjson.dumps({"data": {"e": "kline"}}), "without 'k'"),
        (frame(o="abc"), "malformed field"),
        (frame(t=None), "malformed field"),
        (frame(event_time=None), "malformed field"),
    ],
)
def test_malformed_frames_are_rejected_clearly(raw: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        parse_kline_frame("sim", raw)


def test_the_event_time_comes_with_the_candle() -> None:
    closed = parse_kline_event("sim", frame())
    assert closed is not None and closed.event_time == 1546281900005
    assert closed.candle.close_time == 1546281899999


def test_live_means_newest_closed_candle_on_the_venue_clock() -> None:
    tf = 900_000
    close = 1546281899999
    assert is_live(close, close + 1, tf)  # the closing frame itself
    assert is_live(close, close + tf, tf)  # the next candle has not closed yet
    assert not is_live(close, close + tf + 1, tf)  # the next one closed: history
    assert not is_live(close, close + 40 * tf, tf)  # a backfill long after
