"""Partial fills on demand (the ``partial_fill`` fault), for the spot and USD-M engines.

A :class:`sim.slicer.Slicer` decides, when an order is created, whether it fills in slices (its
``picker`` asks the fault registry); a sliced order fills at most ``size`` per replay step.
:class:`SlicedExchange` walks each replay step's path as usual (a resting sliced limit takes
one slice when touched), then continues the sliced spot orders that took no slice yet:
MARKET and triggered STOP_LOSS / TAKE_PROFIT at the step's last price, limits when that
price is at or through their limit (at that price). An IOC takes its first slice and the
rest expires.
"""

from __future__ import annotations

from decimal import Decimal

from sim.spot.matching import Exchange
from sim.spot.orders import Order, OrderRequest, Outcome

MARKET_LIKE = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})


class SlicedExchange(Exchange):
    """The spot engine with partial fills on demand (see module docstring)."""

    def place(self, key: str, req: OrderRequest, now: int) -> Outcome:
        """As :meth:`Exchange.place`; a partially filled IOC expires its remainder."""
        out = super().place(key, req, now)
        order = out.orders[0]
        if order.is_open and order.executed_qty > 0 and order.time_in_force == "IOC":
            self._end(order, "EXPIRED", "EXPIRED", now, out)
            self._balance_event(key, now, out)
        return out

    def on_price(self, symbol: str, path: tuple[Decimal, ...] | list[Decimal], now: int) -> Outcome:
        """One replay step: walk the path, then continue the sliced orders it did not fill."""
        self.slicer.next_step()
        out = super().on_price(symbol, path, now)
        for o in [o for o in self.open[symbol].values() if self.slicer.sliced(o.order_id)]:
            if not self.slicer.done_this_step(o.order_id):
                self._continue(o, now, out)
        return out

    def _continue(self, o: Order, now: int, out: Outcome) -> None:
        if o.executed_qty == 0:
            return  # not started: it fills (its first slice) as an ordinary order would
        last = self.last_price[o.symbol]
        market = o.type in MARKET_LIKE
        if not market and not self._marketable(o, o.price, last):
            return
        r = self.rules[o.symbol]
        qty = min(o.remaining, self.slicer.size[o.order_id])
        pay = r.quote if o.side == "BUY" else r.base
        need = qty * last if o.side == "BUY" else qty
        held = o.locked if o.lock_asset == pay else Decimal(0)
        if self.accounts[o.account].available(pay) + held < need:
            self._end(o, "EXPIRED", "EXPIRED", now, out)  # the rest cannot be paid for
        else:
            self._execute(o, o.remaining, last, not market, now, out)
            self._slice_filled(o, now, out)
        self._balance_event(o.account, now, out)

    def _slice_filled(self, order: Order, now: int, out: Outcome) -> None:
        """Hook after a continued slice (order lists activate pending legs here)."""
