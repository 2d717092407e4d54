"""OTO and OTOCO order lists on top of the spot matching engine (pure, no I/O).

* Working order: LIMIT or LIMIT_MAKER, placed and matched like a plain order.
* Pending order(s): stored as ``PENDING_NEW`` (not on the book, nothing locked) until the
  working order is **fully** filled; then they become ``NEW`` (OTO: one order; OTOCO: an
  OCO pair where one executing expires the other). A pending stop whose trigger is already
  reached at activation fires at once at the last price.
* Activation locks what the pending orders need. Commission is taken from the received
  asset, so a pending SELL of exactly the quantity a working BUY bought cannot be covered:
  pending legs that cannot be funded are EXPIRED and the list is ALL_DONE (size the pending
  quantity net of commission, as on Binance).
* Cancelling any order of the list cancels the whole list, pending orders included.
"""

from __future__ import annotations

from decimal import Decimal

from sim.errors import BAD_OCO_PRICES, SimError, new_order_rejected
from sim.spot.matching import ABOVE_SELL, STOP_LEGS, fires_on_rise
from sim.spot.orders import (
    STOP_TYPES,
    ListEvent,
    Order,
    OrderEvent,
    OrderList,
    OrderRequest,
    OtoRequest,
    Outcome,
)
from sim.spot.slicing import SlicedExchange

WORKING_TYPES = frozenset({"LIMIT", "LIMIT_MAKER"})


class ListExchange(SlicedExchange):
    """:class:`~sim.spot.matching.Exchange` plus partial fills on demand and OTO / OTOCO lists."""

    def _check_pending(self, req: OtoRequest, last: Decimal) -> None:
        r = self.rules[req.symbol]
        legs = [req.pending] + ([req.pending_below] if req.pending_below else [])
        for leg in legs:
            self._check_shape(leg)
            assert leg.quantity is not None
            self._check_filters(r, leg, leg.quantity, last)
        if req.pending_below is None:
            return
        above, below = req.pending, req.pending_below
        above_ok, below_ok = (
            (ABOVE_SELL, STOP_LEGS) if above.side == "SELL" else (STOP_LEGS, ABOVE_SELL)
        )
        if above.type not in above_ok or below.type not in below_ok:
            raise new_order_rejected("Unsupported order combination")

        def level(leg: OrderRequest) -> Decimal:
            p = leg.price if leg.type == "LIMIT_MAKER" else leg.stop_price
            assert p is not None
            return p

        if not level(above) > level(below):
            raise new_order_rejected(BAD_OCO_PRICES)

    def place_oto(self, key: str, req: OtoRequest, now: int) -> Outcome:
        """Validate and place an OTO (``pending_below`` None) or OTOCO list."""
        if req.working.type not in WORKING_TYPES:
            raise SimError(-1116, "Invalid orderType.")
        qty = self.validate(key, req.working)
        last = self.last_price[req.symbol]
        self._check_pending(req, last)
        list_id = self._new_list_id()
        working = self._new_order(key, req.working, qty, now, list_id)
        pending_reqs = [req.pending] + ([req.pending_below] if req.pending_below else [])
        pending = []
        for leg in pending_reqs:
            assert leg.quantity is not None
            o = self._new_order(key, leg, leg.quantity, now, list_id)
            o.status = "PENDING_NEW"
            o.working_time = -1
            pending.append(o)
        ol = OrderList(
            key,
            req.symbol,
            list_id,
            req.list_client_order_id or f"sim-list-{list_id}",
            tuple(o.order_id for o in [working, *pending]),
            now,
            contingency_type="OTO" if req.pending_below is None else "OTOCO",
        )
        self.lists[list_id] = ol
        out = Outcome(orders=[working, *pending], order_list=ol)
        for o in [working, *pending]:
            self._store(o)
            out.events.append(OrderEvent(o.copy(), "NEW", now))
        out.events.append(self._list_event(ol, now))
        r = self.rules[req.symbol]
        asset, amount = self._need(r, req.working, qty, last)
        self._lock(working, asset, amount)
        if self._marketable(working, working.price, last):
            self._execute(working, qty, last, False, now, out)
            if working.status == "FILLED":  # a sliced working order activates later
                self._activate(ol, now, out)
        self._balance_event(key, now, out)
        return out

    def cancel(
        self,
        key: str,
        symbol: str,
        order_id: int | None,
        client_id: str | None,
        now: int,
        new_client_id: str | None = None,
    ) -> Outcome:
        """As :meth:`Exchange.cancel`; a PENDING_NEW order cancels its whole list."""
        order = self.find_order(key, symbol, order_id, client_id)
        if order is not None and order.status == "PENDING_NEW":
            return self._cancel_list(self.lists[order.order_list_id], now)
        return super().cancel(key, symbol, order_id, client_id, now, new_client_id)

    def _list_event(self, ol: OrderList, now: int) -> ListEvent:
        return ListEvent(ol.copy(), tuple(self.orders[i].copy() for i in ol.order_ids), now)

    def _is_working_leg(self, ol: OrderList, order: Order) -> bool:
        return ol.contingency_type in ("OTO", "OTOCO") and order.order_id == ol.order_ids[0]

    def _expire_sibling(self, ol: OrderList, order: Order, now: int, out: Outcome) -> None:
        if self._is_working_leg(ol, order):
            return  # the working order's fill activates, never expires, the pending legs
        super()._expire_sibling(ol, order, now, out)

    def _hit(self, order: Order, level: Decimal, now: int, out: Outcome) -> None:
        super()._hit(order, level, now, out)
        self._slice_filled(order, now, out)

    def _slice_filled(self, order: Order, now: int, out: Outcome) -> None:
        ol = self.lists.get(order.order_list_id) if order.order_list_id >= 0 else None
        if ol is not None and self._is_working_leg(ol, order) and order.status == "FILLED":
            self._activate(ol, now, out)
            self._balance_event(order.account, now, out)

    def _activate(self, ol: OrderList, now: int, out: Outcome) -> None:
        """The working order filled: pending legs go on the book (or expire unfunded)."""
        legs = [self.orders[i] for i in ol.order_ids[1:]]
        r = self.rules[ol.symbol]
        last = self.last_price[ol.symbol]
        acct = self.accounts[ol.account]
        first = legs[0]
        asset = r.base if first.side == "SELL" else r.quote
        need = max(
            o.orig_qty if o.side == "SELL" else o.orig_qty * (o.price if o.price else o.stop_price)
            for o in legs
        )
        if acct.available(asset) < need:
            for o in legs:
                o.status = "EXPIRED"
                o.update_time = now
                out.events.append(OrderEvent(o.copy(), "EXPIRED", now))
            ol.list_status_type = ol.list_order_status = "ALL_DONE"
            out.events.append(self._list_event(ol, now))
            return
        for o in legs:
            o.status = "NEW"
            o.update_time = now
            o.working_time = -1 if o.type in STOP_TYPES else now
            self.open[o.symbol][o.order_id] = o
        self._lock(first, asset, need)
        if ol.contingency_type == "OTO":
            ol.list_status_type = ol.list_order_status = "ALL_DONE"
        out.events.append(self._list_event(ol, now))
        for o in legs:
            if o.is_open and o.type in STOP_TYPES and self._stop_reached(o, last):
                self._hit(o, last, now, out)

    @staticmethod
    def _stop_reached(o: Order, last: Decimal) -> bool:
        return last >= o.stop_price if fires_on_rise(o) else last <= o.stop_price
