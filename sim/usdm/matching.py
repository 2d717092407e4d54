"""USD-M futures matching (pure, no I/O; ``now`` is passed in).

Same liquidity model as spot (:mod:`sim.spot.matching`): unlimited at the replayed last price, so
executions fill completely (unless the ``partial_fill`` fault sliced the order: one slice
per replay step, see :mod:`sim.slicer`). MARKET and marketable LIMIT orders fill at the
last price as taker; resting LIMIT orders fill at their price when the path touches them
(maker); GTX that would take is rejected ``-5022``; IOC/FOK that cannot fill expire. Margin for the
position-increasing part of an order is ``qty × price / leverage`` and must be available
(``-2019``); reduce-only orders that would increase the position are rejected (``-2022``)
and, when they would at fill time, expire. Conditional orders live in :mod:`sim.usdm.algo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sim.errors import SimError
from sim.slicer import Slicer
from sim.usdm.account import FutAccount
from sim.usdm.models import (
    AccountUpdate,
    FutOrder,
    FutOrderRequest,
    FutOutcome,
    FutTrade,
    OrderUpdate,
    Position,
    PositionSide,
)
from sim.usdm.rules import FutRules, check_notional, check_price, check_qty

ZERO = Decimal(0)
REDUCE_ONLY_REJECT = "ReduceOnly Order is rejected."


def _rejected(msg: str, code: int) -> SimError:
    return SimError(code, msg)


class FuturesBook:
    """Accounts, orders and positions of the USD-M market."""

    def __init__(self, rules: Mapping[str, FutRules], default_leverage: int = 20) -> None:
        self.rules = dict(rules)
        self.default_leverage = default_leverage
        self.accounts: dict[str, FutAccount] = {}
        self.orders: dict[int, FutOrder] = {}
        self.trades: list[FutTrade] = []
        self.last: dict[str, Decimal] = {}
        self.marks: dict[str, Decimal] = {}
        self._next_order = 1
        self._next_trade = 1
        self.slicer = Slicer()

    # ---- accounts and prices ---------------------------------------------------------
    def add_account(self, key: str, wallet: Decimal) -> None:
        """Register ``key`` with a USDT wallet balance."""
        self.accounts[key] = FutAccount(key, wallet, self.default_leverage)

    def account(self, key: str) -> FutAccount:
        """The account of ``key`` (``-2015`` when it has no futures account)."""
        acct = self.accounts.get(key)
        if acct is None:
            raise SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return acct

    def rule(self, symbol: str) -> FutRules:
        """Rules of ``symbol`` (``-1121`` when unknown)."""
        r = self.rules.get(symbol)
        if r is None:
            raise SimError(-1121, "Invalid symbol.")
        return r

    def set_price(self, symbol: str, last: Decimal, mark: Decimal | None = None) -> None:
        """Set the last (contract) price and, when given, the mark price."""
        self.last[symbol] = last
        self.marks[symbol] = mark if mark is not None else self.marks.get(symbol, last)

    def mark(self, symbol: str) -> Decimal:
        """Current mark price."""
        return self.marks.get(symbol, self.last.get(symbol, ZERO))

    @property
    def mmr(self) -> dict[str, Decimal]:
        """Maintenance-margin rate per symbol."""
        return {s: r.maint_margin_rate for s, r in self.rules.items()}

    # ---- helpers ---------------------------------------------------------------------
    def open_orders(self, key: str, symbol: str | None = None) -> list[FutOrder]:
        """Open orders of ``key`` (optionally one symbol), oldest first."""
        return [
            o
            for o in self.orders.values()
            if o.account == key and o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def order_margin(self, acct: FutAccount) -> Decimal:
        """Margin held by open orders that would increase their position."""
        total = ZERO
        for o in self.open_orders(acct.key):
            pos = acct.position(o.symbol, o.position_side)
            increase = _increase(pos.amount, _signed(o.side, o.quantity - o.executed_qty))
            total += increase * o.price / acct.lev(o.symbol)
        return total

    def account_update(
        self, acct: FutAccount, reason: str, now: int, change: Decimal, symbol: str
    ) -> AccountUpdate:
        """An ``ACCOUNT_UPDATE`` snapshot: wallet and the positions of ``symbol``."""
        positions = tuple(
            Position(**vars(p)) for p in acct.positions.values() if p.symbol == symbol
        )
        upnl = tuple(acct.unrealized(p, self.mark(symbol)) for p in positions)
        return AccountUpdate(
            acct.key, reason, now, acct.wallet, acct.cross_wallet(), change, positions, upnl
        )

    def find(
        self, key: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> FutOrder | None:
        """The order by id (preferred) or client id, or ``None``."""
        for o in reversed(list(self.orders.values())):
            if o.account != key or o.symbol != symbol:
                continue
            if order_id is not None and o.order_id == order_id:
                return o if client_id is None or client_id == o.client_order_id else None
            if order_id is None and o.client_order_id == client_id:
                return o
        return None

    # ---- placing ---------------------------------------------------------------------
    def validate(self, key: str, req: FutOrderRequest) -> FutAccount:
        """Every check of a new order; raises :class:`SimError`, changes nothing."""
        acct = self.account(key)
        r = self.rule(req.symbol)
        _check_position_side(acct, req.position_side, req.reduce_only)
        last, mark = self.last[req.symbol], self.mark(req.symbol)
        check_qty(r, req.quantity, req.type == "MARKET")
        price = last if req.type == "MARKET" else req.price
        assert price is not None
        if req.type == "LIMIT":
            check_price(r, price, mark)
        cid = req.client_order_id
        if cid is not None and any(o.client_order_id == cid for o in self.open_orders(key)):
            raise SimError(-4116, "ClientOrderId is duplicated.")
        if len(self.open_orders(key, req.symbol)) >= r.max_num_orders:
            raise SimError(-2025, "Reach max open order limit.")
        pos = acct.position(req.symbol, req.position_side)
        delta = _signed(req.side, req.quantity)
        closing = req.reduce_only or hedge_close(req.position_side, req.side)
        if closing and (pos.amount == 0 or _increase(pos.amount, delta) > 0):
            raise _rejected(REDUCE_ONLY_REJECT, -2022)
        check_notional(r, req.quantity, price, req.reduce_only)
        if (
            req.type == "LIMIT"
            and req.time_in_force == "GTX"
            and _marketable(req.side, price, last)
        ):
            raise SimError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected.",
            )
        need = _increase(pos.amount, delta) * price / acct.lev(req.symbol)
        if need > 0 and need > acct.available(self.marks, self.order_margin(acct)):
            raise SimError(-2019, "Margin is insufficient.")
        return acct

    def place(self, key: str, req: FutOrderRequest, now: int) -> FutOutcome:
        """Validate and place ``req``; fills immediately when marketable."""
        acct = self.validate(key, req)
        oid = self._next_order
        self._next_order += 1
        order = FutOrder(
            account=key,
            order_id=oid,
            client_order_id=req.client_order_id or f"sim_{oid}",
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            orig_type=req.type,
            quantity=req.quantity,
            price=req.price if req.price is not None else ZERO,
            time_in_force=req.time_in_force or "GTC",
            reduce_only=req.reduce_only,
            position_side=req.position_side,
            time=now,
            update_time=now,
        )
        self.register(order)
        out = FutOutcome(orders=[order])
        out.events.append(OrderUpdate(key, _snap(order), "NEW", now))
        self._after_new(acct, order, now, out)
        return out

    def register(self, order: FutOrder) -> None:
        """Store a new order (the ``partial_fill`` fault may pick it for slicing)."""
        self.orders[order.order_id] = order
        step = self.rules[order.symbol].step_size
        tif = order.time_in_force
        self.slicer.pick(
            order.order_id, order.symbol, order.client_order_id, order.quantity, step, tif
        )

    def _after_new(self, acct: FutAccount, order: FutOrder, now: int, out: FutOutcome) -> None:
        last = self.last[order.symbol]
        if order.type == "MARKET" or _marketable(order.side, order.price, last):
            self.fill(acct, order, last, False, now, out)
            if order.is_open and order.time_in_force == "IOC":  # sliced: the rest expires
                self._finish(order, "EXPIRED", now, out)
        elif order.time_in_force in ("IOC", "FOK"):
            self._finish(order, "EXPIRED", now, out)

    def _finish(self, order: FutOrder, status: str, now: int, out: FutOutcome) -> None:
        order.status = status
        order.update_time = now
        out.events.append(OrderUpdate(order.account, _snap(order), status, now))

    def fill(
        self,
        acct: FutAccount,
        order: FutOrder,
        price: Decimal,
        maker: bool,
        now: int,
        out: FutOutcome,
    ) -> None:
        """Execute the remainder of ``order`` at ``price`` (reduce-only clamps or expires)."""
        pos = acct.position(order.symbol, order.position_side)
        if self.slicer.done_this_step(order.order_id):
            return  # a sliced order takes at most one slice per replay step
        qty = self.slicer.cap(order.order_id, order.quantity - order.executed_qty)
        sliced = self.slicer.sliced(order.order_id)
        if (
            order.reduce_only
            or order.close_position
            or hedge_close(order.position_side, order.side)
        ):
            opposite = pos.amount != 0 and (pos.amount > 0) != (order.side == "BUY")
            qty = min(qty, abs(pos.amount)) if opposite else ZERO
            if qty <= 0:
                self._finish(order, "EXPIRED", now, out)
                return
        r = self.rules[order.symbol]
        fee = (qty * price * (r.maker_fee if maker else r.taker_fee)).quantize(
            Decimal("0.00000001")
        )
        realized = acct.apply_fill(pos, _signed(order.side, qty), price, fee)
        pos.update_time = acct.update_time = now
        order.executed_qty += qty
        order.cum_quote += qty * price
        flat = pos.amount == 0
        done = order.executed_qty >= order.quantity or (order.reduce_only and (flat or not sliced))
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        order.update_time = now
        trade = FutTrade(
            self._next_trade,
            order.order_id,
            acct.key,
            order.symbol,
            order.side,
            price,
            qty,
            fee,
            realized,
            maker,
            order.position_side,
            now,
        )
        self._next_trade += 1
        self.trades.append(trade)
        out.trades.append(trade)
        out.events.append(self.account_update(acct, "ORDER", now, ZERO, order.symbol))
        out.events.append(OrderUpdate(acct.key, _snap(order), "TRADE", now, trade))

    # ---- cancel ----------------------------------------------------------------------
    def cancel(
        self, key: str, symbol: str, order_id: int | None, client_id: str | None, now: int
    ) -> FutOutcome:
        """Cancel one open order (``-2011`` when unknown or closed)."""
        self.account(key)
        self.rule(symbol)
        order = self.find(key, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise SimError(-2011, "Unknown order sent.")
        out = FutOutcome(orders=[order])
        self._finish(order, "CANCELED", now, out)
        return out

    # ---- price path ------------------------------------------------------------------
    def on_path(self, symbol: str, path: list[Decimal], now: int) -> FutOutcome:
        """Move the last price along ``path``, filling resting limits it touches."""
        out = FutOutcome()
        for p in path:
            self.last[symbol] = p
            for order in [o for o in self.orders.values() if o.symbol == symbol and o.is_open]:
                acct = self.accounts[order.account]
                if order.type == "LIMIT" and _marketable(order.side, order.price, p):
                    self.fill(acct, order, order.price, True, now, out)
                elif order.type == "MARKET" and self.slicer.sliced(order.order_id):
                    self.fill(acct, order, p, False, now, out)
        return out


def _check_position_side(acct: FutAccount, ps: PositionSide, reduce_only: bool) -> None:
    if acct.dual and ps == "BOTH" or not acct.dual and ps != "BOTH":
        raise SimError(-4061, "Order's position side does not match user's setting.")
    if acct.dual and reduce_only:
        raise SimError(-1106, "Parameter 'reduceonly' sent when not required.")


def hedge_close(position_side: str, side: str) -> bool:
    """Hedge mode: SELL on LONG and BUY on SHORT close (they can only reduce)."""
    return (position_side, side) in (("LONG", "SELL"), ("SHORT", "BUY"))


def _signed(side: str, qty: Decimal) -> Decimal:
    return qty if side == "BUY" else -qty


def _increase(amount: Decimal, delta: Decimal) -> Decimal:
    """How much of ``delta`` increases ``|amount|`` (0 for a pure reduction)."""
    new = amount + delta
    if amount == 0 or (amount > 0) == (delta > 0):
        return abs(delta)
    return abs(new) if (new > 0) != (amount > 0) and new != 0 else ZERO


def _marketable(side: str, price: Decimal, last: Decimal) -> bool:
    return price >= last if side == "BUY" else price <= last


def _snap(o: FutOrder) -> FutOrder:
    return FutOrder(**vars(o))
