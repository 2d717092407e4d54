"""State of the spot market: engine, replay, candles, intervals, hubs and listen keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from greenlight.core.candlefile import CandleArrays
from sim.market_clock import MarketClock
from sim.replay.intervals import IntervalSet
from sim.replay.player import KlineUpdate
from sim.spot.filters import SymbolRules
from sim.spot.matching import Exchange
from sim.spot.orders import Event
from sim.streams.hubs import MarketHub, UserHub


class SpotState:
    """Everything the ``/api/v3`` handlers and spot streams share; the replay feeds prices
    to the engine through it. What both markets share lives in :class:`sim.state.SimState`."""

    def __init__(
        self,
        replay: MarketClock,
        exchange: Exchange,
        candles: Mapping[str, CandleArrays],
        interval: str,
        tf_ms: int,
        served: Sequence[str] = (),
    ) -> None:
        self.replay = replay
        self.exchange = exchange
        self.candles = dict(candles)
        self.interval = interval
        self.tf_ms = tf_ms
        self.market = MarketHub(interval)
        self.intervals = IntervalSet(served or (interval,), replay, candles)
        self.market.ticks = {s: r.tick_size for s, r in exchange.rules.items()}
        self.users = UserHub()
        self.listen_keys: dict[str, str] = {}  # legacy spot listenKey → account
        for symbol, price in replay.last_price.items():
            exchange.set_price(symbol, exchange.rules[symbol].to_price(price))
        replay.add_listener(self.on_updates)

    @property
    def rules(self) -> dict[str, SymbolRules]:
        """Trading rules per symbol."""
        return self.exchange.rules

    def publish(self, events: Iterable[Event]) -> None:
        """Deliver engine events to user-data subscribers."""
        self.users.publish(events, self.replay.now_ms)

    def on_updates(self, updates: list[KlineUpdate]) -> None:
        """Replay listener: run the matching engine along each path, then push klines."""
        now = self.replay.now_ms
        self.match(updates, now)
        self.market.publish(updates, now)
        for interval, coarse in self.intervals.feed(updates):
            self.market.publish_klines(coarse, interval, now)

    def match(self, updates: list[KlineUpdate], now: int) -> None:
        """Run the matching engine along each update's path; user data for what happened."""
        for u in updates:
            rules = self.exchange.rules[u.symbol]
            path = [rules.to_price(p) for p in u.path]
            out = self.exchange.on_price(u.symbol, path, now)
            if out.events:
                self.users.publish(out.events, now)

    def last_price(self, symbol: str) -> Decimal:
        """Current last price (``-1121`` for unknown symbols)."""
        return self.exchange.price_of(symbol)
