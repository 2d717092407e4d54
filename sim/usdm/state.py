"""Shared state of the USD-M half of the simulator: engine, replay, feeds, hubs, listen keys."""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from greenlight.core.candlefile import CandleArrays
from sim.replay.intervals import IntervalSet
from sim.replay.player import KlineUpdate, Replay
from sim.streams.conn import Conn, dumps
from sim.streams.hubs import MarketHub
from sim.streams.user_gate import UserGate
from sim.usdm.algo import AlgoDesk, step_price
from sim.usdm.feed import FundingFeed
from sim.usdm.matching import FuturesBook
from sim.usdm.models import FutEvent, FutOutcome
from sim.usdm.payloads import event_json, num
from sim.usdm.settle import liquidate, settle_funding

Json = dict[str, Any]


class FutMarketHub(MarketHub):
    """Futures market streams: klines plus ``<s>@markPrice[@1s]`` and ``!markPrice@arr``."""

    def publish_marks(self, payloads: list[Json]) -> None:
        """Send mark-price updates to their subscribers."""
        for c in list(self.conns):
            arr_names = [n for n in ("!markPrice@arr", "!markPrice@arr@1s") if n in c.streams]
            for name in arr_names:
                c.send(dumps({"stream": name, "data": payloads}) if c.combined else dumps(payloads))
            for p in payloads:
                low = str(p["s"]).lower()
                for sname in (f"{low}@markPrice@1s", f"{low}@markPrice"):
                    if sname in c.streams:
                        c.send(dumps({"stream": sname, "data": p}) if c.combined else dumps(p))


@dataclass(eq=False)
class FutUserSub:
    """A ``/private/ws/<listenKey>`` connection."""

    conn: Conn
    account: str
    listen_key: str


class ListenKeys:
    """Futures listen keys: one per account, valid ``ttl`` seconds after the last keepalive."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.keys: dict[str, tuple[str, float]] = {}

    def create(self, account: str) -> str:
        """The account's active key (extended) or a new one."""
        lk = next((k for k, (a, _) in self.keys.items() if a == account), None)
        lk = lk or pysecrets.token_urlsafe(48)[:64]
        self.keys[lk] = (account, time.monotonic() + self.ttl)
        return lk

    def owner(self, lk: str) -> str | None:
        """Account of an unexpired key."""
        entry = self.keys.get(lk)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def keepalive(self, lk: str, account: str) -> bool:
        """Extend ``lk``; False when unknown or not ``account``'s."""
        if self.owner(lk) != account:
            return False
        self.keys[lk] = (account, time.monotonic() + self.ttl)
        return True

    def delete(self, lk: str) -> None:
        """Close ``lk``."""
        self.keys.pop(lk, None)

    def take_expired(self) -> list[str]:
        """Remove and return keys past their validity."""
        now = time.monotonic()
        gone = [k for k, (_, exp) in self.keys.items() if exp <= now]
        for k in gone:
            del self.keys[k]
        return gone


class FutState:
    """Everything the ``/fapi`` handlers and futures streams share."""

    def __init__(
        self,
        replay: Replay,
        book: FuturesBook,
        candles: Mapping[str, CandleArrays],
        feeds: Mapping[str, FundingFeed],
        interval: str,
        tf_ms: int,
        listen_key_ttl: float,
        served: Sequence[str] = (),
    ) -> None:
        self.replay = replay
        self.book = book
        self.desk = AlgoDesk(book)
        self.candles = dict(candles)
        self.feeds = dict(feeds)
        self.interval = interval
        self.tf_ms = tf_ms
        self.market = FutMarketHub(interval)
        self.intervals = IntervalSet(served or (interval,), replay, candles)
        self.market.ticks = {s: r.tick_size for s, r in book.rules.items()}
        self.users: list[FutUserSub] = []
        self.gate = UserGate()  # sim.state.SimState gives both markets one gate
        self.listen_keys = ListenKeys(listen_key_ttl)
        self.clock: dict[str, int] = {}
        for symbol, arr in self.candles.items():
            lo, hi = replay.visible_range(symbol)
            self.clock[symbol] = int(arr.open_time[hi - 1]) + tf_ms if hi > 0 else 0
            last = Decimal(repr(replay.last_price.get(symbol, float(arr.open[0]))))
            mark = self.feeds[symbol].mark_at(self.clock[symbol], float(last))
            rules = book.rules[symbol]
            book.set_price(symbol, rules.to_price(last), rules.to_price(mark))
        replay.add_listener(self.on_updates)

    def publish(self, events: Iterable[FutEvent]) -> None:
        """Deliver engine events to the account's user-data connections, in order."""
        now = self.replay.now_ms
        for ev in events:
            targets = [s for s in self.users if s.account == ev.account]
            if not targets:
                continue
            acct = self.book.accounts[ev.account]
            text = dumps(event_json(ev, now, dict(acct.margin_type)))
            for s in targets:
                self.gate.send(s.conn, text)

    def on_updates(self, updates: list[KlineUpdate]) -> None:
        """Replay listener: mark price, triggers, fills, liquidations, funding, streams."""
        now = self.replay.now_ms
        marks: list[Json] = []
        for u in updates:
            rules = self.book.rules[u.symbol]
            feed = self.feeds[u.symbol]
            t = u.hist_time
            mark = rules.to_price(feed.mark_at(t, u.path[-1]))
            path = [rules.to_price(p) for p in u.path]
            out = step_price(self.book, self.desk, u.symbol, path, mark, now)
            self._extend(out, liquidate(self.book, u.symbol, now))
            for f in feed.funding_times(self.clock[u.symbol], t):
                self._extend(out, settle_funding(self.book, u.symbol, feed.rate_at(f), mark, now))
            self.clock[u.symbol] = max(self.clock[u.symbol], t)
            self.publish(out.events)
            marks.append(self.mark_payload(u.symbol, now))
        self.market.publish(updates, now)
        for interval, coarse in self.intervals.feed(updates):
            self.market.publish_klines(coarse, interval, now)
        if marks:
            self.market.publish_marks(marks)

    @staticmethod
    def _extend(out: FutOutcome, more: FutOutcome) -> None:
        out.events.extend(more.events)
        out.trades.extend(more.trades)

    def mark_payload(self, symbol: str, now: int) -> Json:
        """``markPriceUpdate`` event of ``symbol``."""
        feed, mark = self.feeds[symbol], self.book.mark(symbol)
        nxt = feed.next_funding_time(self.clock[symbol])
        return {
            "e": "markPriceUpdate",
            "E": now,
            "s": symbol,
            "p": num(mark),
            "ap": num(mark),
            "P": num(mark),
            "i": num(self.book.last[symbol]),
            "r": num(feed.rate_at(nxt)),
            "T": nxt,
            "st": 1,
        }

    def premium_index(self, symbol: str, now: int) -> Json:
        """``GET /fapi/v1/premiumIndex`` item."""
        feed, mark = self.feeds[symbol], self.book.mark(symbol)
        nxt = feed.next_funding_time(self.clock[symbol])
        return {
            "symbol": symbol,
            "markPrice": num(mark),
            "indexPrice": num(self.book.last[symbol]),
            "estimatedSettlePrice": num(mark),
            "lastFundingRate": num(feed.rate_at(nxt - feed.interval_ms)),
            "interestRate": "0.0001",
            "nextFundingTime": nxt,
            "time": now,
        }

    def expire_listen_keys(self) -> int:
        """Send ``listenKeyExpired`` to the streams of expired keys and close them."""
        gone = self.listen_keys.take_expired()
        now = self.replay.now_ms
        for lk in gone:
            for s in [s for s in self.users if s.listen_key == lk]:
                s.conn.send(dumps({"e": "listenKeyExpired", "E": now, "listenKey": lk}))
                s.conn.close_after()
                self.users.remove(s)
        return len(gone)

    def drop_users(self) -> int:
        """Abort every user-data connection; returns how many were dropped."""
        n = len(self.users)
        for s in self.users:
            s.conn.abort()
        self.users.clear()
        return n
