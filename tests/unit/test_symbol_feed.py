"""Liveness is judged on the venue clock by the ingestor; how long a candle queued in the feed
(how fast this machine is) never changes it."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.events import Candle
from engine.pipeline import Outcome
from engine.symbol_feed import SymbolFeed
from tests.helpers import eventually


class RecordingParent:
    """The parent-stream seam: records whether each candle was offered as live."""

    tf = "15m"
    sub = None

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []

    async def process(self, pool: Any, candle: Candle, received_at: float, live: bool) -> Outcome:
        self.seen.append((candle.open_time, live))
        return Outcome(processed=True)


def candle(i: int) -> Candle:
    t = 1_546_281_000_000 + i * 900_000
    return Candle(
        venue="sim",
        symbol="BTCUSDT",
        tf="15m",
        open_time=t,
        close_time=t + 899_999,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=1.0,
    )


async def test_a_backlog_does_not_change_which_candles_are_live() -> None:
    parent = RecordingParent()
    feed = SymbolFeed(None, parent)  # type: ignore[arg-type]
    offered = [True, False, True]  # as judged by the ingestor on the venue's clock
    for i, live in enumerate(offered):  # three closes arrive before the feed gets to run
        await feed.put(candle(i), 0.0, live)
    task = asyncio.create_task(feed.run())
    try:
        await eventually(lambda: _true(len(parent.seen) == 3), 5, "the backlog")
        await feed.put(candle(3), 0.0, True)  # then the market is followed in real time
        await eventually(lambda: _true(len(parent.seen) == 4), 5, "the live candle")
    finally:
        task.cancel()
    assert parent.seen == [(candle(i).open_time, v) for i, v in enumerate([*offered, True])]


async def _true(v: bool) -> bool:
    return v
