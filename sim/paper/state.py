"""State of the paper venue's market: the simulator's spot state with a live feed for a replay."""

from __future__ import annotations

from typing import Any

from sim.paper.exchange import PaperExchange
from sim.paper.feed import LiveFeed
from sim.paper.frames import KlineFrame
from sim.replay.player import KlineUpdate
from sim.spot.state import SpotState
from sim.streams.conn import dumps
from sim.streams.hubs import MarketHub


def relay(hub: MarketHub, name: str, payload: Any) -> None:
    """Send ``payload`` (a frame of stream ``name``) to the connections subscribed to it."""
    raw: str | None = None
    wrapped: str | None = None
    for c in hub.conns:
        if name not in c.streams:
            continue
        if c.combined:
            wrapped = wrapped or dumps({"stream": name, "data": payload})
            c.send(wrapped)
        else:
            raw = raw or dumps(payload)
            c.send(raw)


class PaperState(SpotState):
    """Orders, balances and streams as in the simulator; prices, klines and time from the
    market-data source (:class:`LiveFeed`). Kline frames are relayed as the source sent
    them, after the matching engine has moved along their prices."""

    def __init__(
        self,
        feed: LiveFeed,
        exchange: PaperExchange,
        source: str,
    ) -> None:
        tf_ms = 0  # unused: the kline cache pages by open time
        base = feed.range_interval  # klines are relayed, not built from the hub's interval
        super().__init__(feed, exchange, {}, base, tf_ms, (base,))
        self.feed = feed
        self.source = source
        feed.add_frame_listener(self.on_frame)

    def on_updates(self, updates: list[KlineUpdate]) -> None:
        """Prices moved: match resting orders, then the book ticker (klines are relayed)."""
        now = self.replay.now_ms
        self.match(updates, now)
        self.market.publish_book(updates, now)

    def on_frame(self, frame: KlineFrame) -> None:
        """Relay a kline frame of the source to this venue's subscribers."""
        if self.market.conns:
            name = f"{frame.symbol.lower()}@kline_{frame.interval}"
            relay(self.market, name, frame.payload)

    def paper_status(self) -> dict[str, Any]:
        """What ``GET /sim/admin/status`` adds for the paper venue."""
        return {
            "source": self.source,
            "source_streams": self.feed.upstream.ws_url,
            "connected": self.feed.connected,
            "reconnects": self.feed.reconnects,
        }
