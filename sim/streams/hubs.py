"""Fan-out of market and user-data messages to WebSocket connections
(:class:`sim.streams.conn.Conn`).

Publishing is synchronous (called from the replay step or a REST handler); user-data messages
pass the ``pause_user_stream`` gate (:mod:`sim.streams.user_gate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sim.replay.player import KlineUpdate
from sim.spot.orders import Event
from sim.spot.payloads import event_account, event_json, kline_event
from sim.streams.conn import Conn, dumps
from sim.streams.user_gate import UserGate


class MarketHub:
    """Market stream subscribers (``/ws``, ``/stream``)."""

    def __init__(self, interval: str) -> None:
        self.interval = interval
        self.conns: set[Conn] = set()
        self.ticks: dict[str, Decimal] = {}  # set by the state; bookTicker prices use it
        self._book_id = 0

    def _send(self, c: Conn, name: str, payload: Any) -> None:
        c.send(dumps({"stream": name, "data": payload}) if c.combined else dumps(payload))

    def publish_book(self, updates: Iterable[KlineUpdate], event_time: int) -> None:
        """``<symbol>@bookTicker``: best bid one tick under, best ask one tick over the last
        price (the matching engine fills at the last price itself)."""
        for u in updates:
            name = f"{u.symbol.lower()}@bookTicker"
            targets = [c for c in self.conns if name in c.streams]
            if not targets:
                continue
            self._book_id += 1
            tick = self.ticks.get(u.symbol, Decimal("0.00000001"))
            last = Decimal(repr(u.path[-1])).quantize(tick)
            payload = {
                "u": self._book_id,
                "s": u.symbol,
                "b": f"{last - tick:f}",
                "B": "1000",
                "a": f"{last + tick:f}",
                "A": "1000",
            }
            for c in targets:
                self._send(c, name, payload)

    def shutdown_notice(self, event_time: int) -> int:
        """Send ``serverShutdown`` to every connection; returns how many got it."""
        payload = {"e": "serverShutdown", "E": event_time}
        for c in self.conns:
            self._send(c, "!serverShutdown", payload)
        return len(self.conns)

    def publish(self, updates: Iterable[KlineUpdate], event_time: int) -> None:
        """Send each kline (and bookTicker) update to the connections subscribed to it."""
        if not self.conns:
            return
        updates = list(updates)
        self.publish_book(updates, event_time)
        self.publish_klines(updates, self.interval, event_time)

    def publish_klines(
        self, updates: Iterable[KlineUpdate], interval: str, event_time: int
    ) -> None:
        """Send ``<symbol>@kline_<interval>`` updates to their subscribers, in order."""
        if not self.conns:
            return
        for u in updates:
            name = f"{u.symbol.lower()}@kline_{interval}"
            raw: str | None = None
            wrapped: str | None = None
            payload: dict[str, Any] | None = None
            for c in self.conns:
                if name not in c.streams:
                    continue
                payload = payload or kline_event(u, interval, event_time)
                if c.combined:
                    wrapped = wrapped or dumps({"stream": name, "data": payload})
                    c.send(wrapped)
                else:
                    raw = raw or dumps(payload)
                    c.send(raw)

    def drop_all(self) -> int:
        """Abort every market connection; returns how many were dropped."""
        conns = list(self.conns)
        for c in conns:
            c.abort()
        self.conns.clear()
        return len(conns)


@dataclass(eq=False)
class UserSub:
    """A user-data subscription: WS-API (wrapped with an id) or legacy listenKey (raw)."""

    conn: Conn
    account: str
    subscription_id: int | None


class UserHub:
    """User-data subscribers per account."""

    def __init__(self) -> None:
        self.gate = UserGate()
        self.subs: list[UserSub] = []
        self._exec_id = 0
        self._next_sub = 0

    def new_subscription_id(self) -> int:
        """Next subscription id."""
        sid = self._next_sub
        self._next_sub += 1
        return sid

    def add(self, sub: UserSub) -> None:
        """Start delivering events to ``sub``."""
        self.subs.append(sub)

    def remove_conn(self, conn: Conn) -> None:
        """Forget every subscription of ``conn``."""
        self.subs = [s for s in self.subs if s.conn is not conn]

    def remove(self, conn: Conn, subscription_id: int | None) -> int:
        """Remove one (or all, when ``None``) WS-API subscription of ``conn``."""
        keep = [
            s
            for s in self.subs
            if s.conn is not conn
            or (subscription_id is not None and s.subscription_id != subscription_id)
        ]
        removed = len(self.subs) - len(keep)
        self.subs = keep
        return removed

    def publish(self, events: Iterable[Event], event_time: int) -> None:
        """Deliver engine events, in order, to the subscribers of their accounts."""
        for ev in events:
            self._exec_id += 1
            targets = [s for s in self.subs if s.account == event_account(ev)]
            if not targets:
                continue
            payload = event_json(ev, event_time, self._exec_id)
            for s in targets:
                if s.subscription_id is None:
                    self.gate.send(s.conn, dumps(payload))
                else:
                    wrapped = {"subscriptionId": s.subscription_id, "event": payload}
                    self.gate.send(s.conn, dumps(wrapped))

    def drop_all(self) -> int:
        """Abort every connection that carries a user-data subscription."""
        conns = {id(s.conn): s.conn for s in self.subs}
        for c in conns.values():
            c.abort()
        self.subs.clear()
        return len(conns)
