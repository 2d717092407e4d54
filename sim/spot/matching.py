"""Spot matching rules (pure, no I/O; the backtester reuses them).

Liquidity is unlimited at the replayed last price, so every execution fills the whole
remaining quantity (unless the ``partial_fill`` fault sliced the order, see
:mod:`sim.spot.slicing`):

* MARKET fills at the current last price (``quoteOrderQty`` → quantity rounded down to the
  step).
* A LIMIT (or triggered ``*_LIMIT``) that is marketable when it arrives (BUY price ≥ last,
  SELL price ≤ last) fills at once as taker **at the last price**; IOC/FOK that are not
  marketable expire; GTC rests. LIMIT_MAKER that would be marketable is rejected.
* A resting limit fills as maker **at its limit price** when the price path touches it
  (BUY when price ≤ limit, SELL when price ≥ limit).
* Stops: STOP_LOSS BUY / TAKE_PROFIT SELL trigger when the price rises to the stop,
  STOP_LOSS SELL / TAKE_PROFIT BUY when it falls to it. The path is treated as continuous, so
  a triggered STOP_LOSS / TAKE_PROFIT fills as market **at the stop price**; a triggered
  ``*_LIMIT`` becomes a limit order (filled at the stop price if marketable there).
* OCO: when either leg fills or triggers, the other leg is EXPIRED and the list is ALL_DONE.
* Commission (``commission`` rate) is charged in the asset received.
"""

from __future__ import annotations

from decimal import Decimal

from sim.errors import (
    BAD_OCO_PRICES,
    DUPLICATE_ORDER,
    UNKNOWN_ORDER_CANCEL,
    WOULD_TAKE,
    WOULD_TRIGGER,
    SimError,
    filter_failure,
    mandatory,
    new_order_rejected,
)
from sim.spot.book import Book
from sim.spot.filters import (
    SymbolRules,
    check_lot,
    check_notional,
    check_percent_price_by_side,
    check_price,
    floor_to_step,
)
from sim.spot.orders import (
    PRICED_TYPES,
    STOP_TYPES,
    TIF_TYPES,
    ListEvent,
    OcoRequest,
    Order,
    OrderEvent,
    OrderList,
    OrderRequest,
    Outcome,
)

ABOVE_SELL = frozenset({"LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
STOP_LEGS = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})


def fires_on_rise(o: Order | OrderRequest) -> bool:
    """Whether the order's level is reached by a rising price (else by a falling one)."""
    triggered = isinstance(o, Order) and o.type in STOP_TYPES and o.triggered
    if triggered or o.type in ("LIMIT", "LIMIT_MAKER"):
        return o.side == "SELL"
    return (o.type in STOP_LEGS) == (o.side == "BUY")


class Exchange(Book):
    """A spot venue: place/cancel orders and OCO lists, and move prices along a path."""

    def __init__(self, rules: dict[str, SymbolRules], commission: Decimal = Decimal("0.001")):
        super().__init__(rules, commission)

    # ---- validation ------------------------------------------------------------------
    def _check_shape(self, req: OrderRequest) -> None:
        if req.type == "MARKET":
            if req.quantity is None and req.quote_order_qty is None:
                raise SimError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
        elif req.quantity is None:
            raise mandatory("quantity")
        if req.type in PRICED_TYPES and req.price is None:
            raise mandatory("price")
        if req.type in STOP_TYPES and req.stop_price is None:
            raise mandatory("stopPrice")
        if req.type in TIF_TYPES and req.time_in_force is None:
            raise mandatory("timeInForce")

    def _market_qty(self, r: SymbolRules, req: OrderRequest, last: Decimal) -> Decimal:
        if req.quantity is not None:
            return req.quantity
        assert req.quote_order_qty is not None
        if req.quote_order_qty <= 0:
            raise SimError(-1013, "Invalid quoteOrderQty.")
        step = r.market_step_size or r.step_size
        return floor_to_step(req.quote_order_qty / last, step)

    def _check_filters(
        self, r: SymbolRules, req: OrderRequest, qty: Decimal, last: Decimal
    ) -> None:
        for p in (req.price, req.stop_price):
            if p is not None:
                check_price(r, p)
        if req.price is not None and req.type in PRICED_TYPES:
            check_percent_price_by_side(r, req.side, req.price, last)
        market = req.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
        check_lot(r, qty, market)
        ref = req.price if req.type in PRICED_TYPES else req.stop_price
        check_notional(r, qty * (ref if ref is not None else last), market)

    def _check_engine(
        self, key: str, r: SymbolRules, req: OrderRequest, last: Decimal, n: int
    ) -> None:
        opened = [o for o in self.open[r.symbol].values() if o.account == key]
        if len(opened) + n > r.max_num_orders:
            raise filter_failure("MAX_NUM_ORDERS")
        if req.type in STOP_TYPES:
            algo = sum(1 for o in opened if o.type in STOP_TYPES)
            if algo + 1 > r.max_num_algo_orders:
                raise filter_failure("MAX_NUM_ALGO_ORDERS")
        if req.client_order_id and any(
            o.client_order_id == req.client_order_id for o in self.open_orders(key)
        ):
            raise new_order_rejected(DUPLICATE_ORDER)
        if req.type in STOP_TYPES:
            assert req.stop_price is not None
            rise = fires_on_rise(req)
            if (rise and req.stop_price <= last) or (not rise and req.stop_price >= last):
                raise new_order_rejected(WOULD_TRIGGER)
        if (
            req.type == "LIMIT_MAKER"
            and req.price is not None
            and self._marketable(req, req.price, last)
        ):
            raise new_order_rejected(WOULD_TAKE)

    @staticmethod
    def _marketable(o: Order | OrderRequest, price: Decimal, last: Decimal) -> bool:
        return price >= last if o.side == "BUY" else price <= last

    @staticmethod
    def _need(
        r: SymbolRules, req: OrderRequest, qty: Decimal, last: Decimal
    ) -> tuple[str, Decimal]:
        if req.side == "SELL":
            return r.base, qty
        ref = req.price if req.type in PRICED_TYPES else req.stop_price
        return r.quote, qty * (ref if ref is not None else last)

    def validate(self, key: str, req: OrderRequest) -> Decimal:
        """Run every check of :meth:`place` without changing anything; returns the quantity."""
        r = self.symbol_rules(req.symbol)
        acct = self.account(key)
        self._check_shape(req)
        last = self.price_of(req.symbol)
        qty = self._market_qty(r, req, last) if req.type == "MARKET" else req.quantity
        assert qty is not None
        self._check_filters(r, req, qty, last)
        self._check_engine(key, r, req, last, 1)
        asset, amount = self._need(r, req, qty, last)
        acct.require(asset, amount)
        return qty

    # ---- placement -------------------------------------------------------------------
    def _new_order(
        self, key: str, req: OrderRequest, qty: Decimal, now: int, list_id: int = -1
    ) -> Order:
        oid = self._new_order_id()
        stop = req.type in STOP_TYPES
        return Order(
            account=key,
            symbol=req.symbol,
            order_id=oid,
            client_order_id=req.client_order_id or f"sim-{oid}",
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force or "GTC",
            price=req.price or Decimal(0),
            orig_qty=qty,
            stop_price=req.stop_price or Decimal(0),
            orig_quote_qty=req.quote_order_qty or Decimal(0),
            time=now,
            update_time=now,
            working_time=-1 if stop else now,
            order_list_id=list_id,
            strategy_id=req.strategy_id,
            strategy_type=req.strategy_type,
        )

    def place(self, key: str, req: OrderRequest, now: int) -> Outcome:
        """Validate and place one order; raises :class:`~sim.errors.SimError` on rejection."""
        qty = self.validate(key, req)
        r = self.rules[req.symbol]
        last = self.last_price[req.symbol]
        order = self._new_order(key, req, qty, now)
        out = Outcome(orders=[order])
        self._store(order)
        asset, amount = self._need(r, req, qty, last)
        out.events.append(OrderEvent(order.copy(), "NEW", now))
        if req.type == "MARKET":
            self._execute(order, qty, last, False, now, out)
        elif req.type in STOP_TYPES or (
            order.time_in_force == "GTC" and not self._marketable(order, order.price, last)
        ):
            self._lock(order, asset, amount)
        elif not self._marketable(order, order.price, last):
            self._end(order, "EXPIRED", "EXPIRED", now, out)
        else:
            self._lock(order, asset, amount)
            self._execute(order, qty, last, False, now, out)
        self._balance_event(key, now, out)
        return out

    def _check_oco(self, req: OcoRequest, last: Decimal) -> None:
        above_ok, below_ok = (
            (ABOVE_SELL, STOP_LEGS) if req.side == "SELL" else (STOP_LEGS, ABOVE_SELL)
        )
        if req.above.type not in above_ok or req.below.type not in below_ok:
            raise new_order_rejected("Unsupported order combination")

        def level(leg: OrderRequest) -> Decimal:
            p = leg.price if leg.type == "LIMIT_MAKER" else leg.stop_price
            if p is None:
                raise mandatory("abovePrice" if leg is req.above else "belowStopPrice")
            return p

        if not level(req.above) > last > level(req.below):
            raise new_order_rejected(BAD_OCO_PRICES)

    def place_oco(self, key: str, req: OcoRequest, now: int) -> Outcome:
        """Validate and place an OCO list (both legs or nothing)."""
        r = self.symbol_rules(req.symbol)
        acct = self.account(key)
        last = self.price_of(req.symbol)
        legs = (req.above, req.below)
        for leg in legs:
            self._check_shape(leg)
            self._check_filters(r, leg, req.quantity, last)
        self._check_oco(req, last)
        self._check_engine(key, r, req.above, last, 2)
        self._check_engine(key, r, req.below, last, 2)
        needs = [self._need(r, leg, req.quantity, last) for leg in legs]
        asset, amount = needs[0][0], max(n[1] for n in needs)
        acct.require(asset, amount)
        list_id = self._new_list_id()
        orders = [self._new_order(key, leg, req.quantity, now, list_id) for leg in legs]
        ol = OrderList(
            key,
            req.symbol,
            list_id,
            req.list_client_order_id or f"sim-list-{list_id}",
            (orders[0].order_id, orders[1].order_id),
            now,
        )
        self.lists[list_id] = ol
        out = Outcome(orders=orders, order_list=ol)
        for o in orders:
            self._store(o)
            out.events.append(OrderEvent(o.copy(), "NEW", now))
        self._lock(orders[0], asset, amount)
        out.events.append(ListEvent(ol.copy(), tuple(o.copy() for o in orders), now))
        self._balance_event(key, now, out)
        return out

    # ---- cancellation ----------------------------------------------------------------
    def cancel(
        self,
        key: str,
        symbol: str,
        order_id: int | None,
        client_id: str | None,
        now: int,
        new_client_id: str | None = None,
    ) -> Outcome:
        """Cancel an open order (a leg cancels its whole list); ``-2011`` when unknown."""
        order = self.find_order(key, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise SimError(-2011, UNKNOWN_ORDER_CANCEL)
        if order.order_list_id >= 0:
            return self._cancel_list(self.lists[order.order_list_id], now)
        out = Outcome(orders=[order])
        order.cancel_client_id = new_client_id or f"sim-cancel-{order.order_id}"
        self._end(order, "CANCELED", "CANCELED", now, out)
        self._balance_event(key, now, out)
        return out

    def cancel_list(
        self, key: str, symbol: str, list_id: int | None, list_client_id: str | None, now: int
    ) -> Outcome:
        """Cancel an OCO list by id or client id."""
        self.symbol_rules(symbol)
        try:
            ol = self.get_list(key, list_id, list_client_id)
        except SimError:
            raise SimError(-2011, UNKNOWN_ORDER_CANCEL) from None
        if ol.symbol != symbol or ol.list_order_status == "ALL_DONE":
            raise SimError(-2011, UNKNOWN_ORDER_CANCEL)
        return self._cancel_list(ol, now)

    def _cancel_list(self, ol: OrderList, now: int) -> Outcome:
        orders = [self.orders[i] for i in ol.order_ids]
        out = Outcome(orders=orders, order_list=ol)
        for o in orders:
            if o.is_open or o.status == "PENDING_NEW":
                o.cancel_client_id = f"sim-cancel-{o.order_id}"
                self._end(o, "CANCELED", "CANCELED", now, out)
        ol.list_status_type = ol.list_order_status = "ALL_DONE"
        out.events.append(ListEvent(ol.copy(), tuple(o.copy() for o in orders), now))
        self._balance_event(ol.account, now, out)
        return out

    def cancel_all(self, key: str, symbol: str, now: int) -> list[Outcome]:
        """Cancel every open order and list of the account on ``symbol``."""
        outcomes: list[Outcome] = []
        for o in self.open_orders(key, symbol):
            if o.is_open:
                outcomes.append(self.cancel(key, symbol, o.order_id, None, now))
        return outcomes

    # ---- price path ------------------------------------------------------------------
    def on_price(self, symbol: str, path: tuple[Decimal, ...] | list[Decimal], now: int) -> Outcome:
        """Move the last price of ``symbol`` through the waypoints of ``path`` in order,
        running every resting order and stop the path touches (see module docstring)."""
        out = Outcome()
        for target in path:
            start = self.last_price.get(symbol, target)
            self._segment(symbol, start, target, now, out)
            self.last_price[symbol] = target
        return out

    def _segment(self, symbol: str, a: Decimal, b: Decimal, now: int, out: Outcome) -> None:
        cur = a
        while self.open[symbol]:
            hit = self._next_hit(symbol, cur, b)
            if hit is None:
                return
            level, order = hit
            self.last_price[symbol] = level
            self._hit(order, level, now, out)
            cur = level

    def _next_hit(self, symbol: str, cur: Decimal, b: Decimal) -> tuple[Decimal, Order] | None:
        rising = b > cur
        best: tuple[Decimal, int, Order] | None = None
        for o in self.open[symbol].values():
            if self.slicer.done_this_step(o.order_id):
                continue  # a sliced order takes at most one slice per replay step
            level = o.stop_price if o.type in STOP_TYPES and not o.triggered else o.price
            if fires_on_rise(o) != rising:
                continue
            inside = cur <= level <= b if rising else b <= level <= cur
            if inside:
                key = (abs(level - cur), o.order_id)
                if best is None or key < (best[0], best[1]):
                    best = (key[0], key[1], o)
        if best is None:
            return None
        o = best[2]
        return (o.stop_price if o.type in STOP_TYPES and not o.triggered else o.price), o

    def _hit(self, order: Order, level: Decimal, now: int, out: Outcome) -> None:
        ol = self.lists.get(order.order_list_id) if order.order_list_id >= 0 else None
        if ol is not None and ol.list_order_status != "ALL_DONE":
            self._expire_sibling(ol, order, now, out)
        if order.type in STOP_TYPES and not order.triggered:
            order.triggered = True
            order.working_time = now
            order.update_time = now
            if order.type in ("STOP_LOSS", "TAKE_PROFIT") or self._marketable(
                order, order.price, level
            ):
                self._execute(order, order.remaining, level, False, now, out)
            elif order.time_in_force != "GTC":
                self._end(order, "EXPIRED", "EXPIRED", now, out)
        else:
            self._execute(order, order.remaining, level, True, now, out)
        if ol is not None:
            out.events.append(
                ListEvent(ol.copy(), tuple(self.orders[i].copy() for i in ol.order_ids), now)
            )
        self._balance_event(order.account, now, out)

    def _expire_sibling(self, ol: OrderList, order: Order, now: int, out: Outcome) -> None:
        """The other leg expires; its share of the list's lock moves to ``order``."""
        for oid in ol.order_ids:
            other = self.orders[oid]
            if other is order or not other.is_open:
                continue
            if other.locked:
                order.lock_asset = other.lock_asset
                order.locked += other.locked
                other.locked = Decimal(0)
            self._end(other, "EXPIRED", "EXPIRED", now, out)
        ol.list_status_type = ol.list_order_status = "ALL_DONE"
