from __future__ import annotations

import orjson
import pytest

from engine.ingest.stream import FrameError, parse_kline_frame

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


def frame(**k: object) -> bytes:
    data = {"e": "kline", "E": 1, "s": "BTCUSDT", "k": {**K, **k}}
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
    ],
)
def test_malformed_frames_are_rejected_clearly(raw: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        parse_kline_frame("sim", raw)
