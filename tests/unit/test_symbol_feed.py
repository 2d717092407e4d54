"""A candle that queued behind a newer one never becomes a decision (it is history)."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.contracts import Candle
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


async def test_only_the_newest_queued_candle_is_live() -> None:
    parent = RecordingParent()
    feed = SymbolFeed(None, parent)  # type: ignore[arg-type]
    for i in range(3):  # three closes arrive before the feed gets to run (a backlog)
        await feed.put(candle(i), 0.0, True)
    task = asyncio.create_task(feed.run())
    try:
        await eventually(lambda: _true(len(parent.seen) == 3), 5, "the backlog")
        await feed.put(candle(3), 0.0, True)  # then the market is followed in real time
        await eventually(lambda: _true(len(parent.seen) == 4), 5, "the live candle")
    finally:
        task.cancel()
    assert [live for _, live in parent.seen] == [False, False, True, True]


async def _true(v: bool) -> bool:
    return v
