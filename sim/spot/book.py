"""Engine state: accounts, orders, trades, lists; fills and lock bookkeeping; queries.

Pure logic, no I/O and no clock: every call gets ``now`` (ms) from the caller, so the
backtester can drive the same code with candle time.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from sim.errors import NO_SUCH_ORDER, SimError
from sim.slicer import Slicer
from sim.spot.accounts import Account
from sim.spot.filters import SymbolRules
from sim.spot.orders import BalanceEvent, Order, OrderEvent, OrderList, Outcome, Trade

COMMISSION_QUANTUM = Decimal("0.00000001")


def bad_symbol() -> SimError:
    """``-1121 Invalid symbol.``"""
    return SimError(-1121, "Invalid symbol.")


class Book:
    """Accounts, orders and trades of a spot venue with a single last price per symbol."""

    def __init__(self, rules: Mapping[str, SymbolRules], commission: Decimal) -> None:
        self.rules = dict(rules)
        self.commission = commission
        self.accounts: dict[str, Account] = {}
        self.last_price: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.open: dict[str, dict[int, Order]] = {s: {} for s in self.rules}
        self.trades: list[Trade] = []
        self.lists: dict[int, OrderList] = {}
        self._next_order_id = 1
        self._next_trade_id = 1
        self._next_list_id = 1
        self.slicer = Slicer()

    # ---- setup -----------------------------------------------------------------------
    def add_account(self, key: str, balances: Mapping[str, Decimal]) -> Account:
        """Create (or replace) the account of ``key`` with free ``balances``."""
        acct = Account(key, balances)
        self.accounts[key] = acct
        return acct

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Set the last trade price without running any order (e.g. at start-up)."""
        self.symbol_rules(symbol)
        self.last_price[symbol] = price

    def symbol_rules(self, symbol: str) -> SymbolRules:
        """Rules of ``symbol`` or ``-1121``."""
        try:
            return self.rules[symbol]
        except KeyError:
            raise bad_symbol() from None

    def price_of(self, symbol: str) -> Decimal:
        """Current last price of ``symbol``."""
        self.symbol_rules(symbol)
        if symbol not in self.last_price:
            raise SimError(-1013, f"No price yet for {symbol}.")
        return self.last_price[symbol]

    def account(self, key: str) -> Account:
        """The account of ``key`` (``-2015`` if unknown)."""
        try:
            return self.accounts[key]
        except KeyError:
            raise SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401) from None

    # ---- ids -------------------------------------------------------------------------
    def _new_order_id(self) -> int:
        oid = self._next_order_id
        self._next_order_id += 1
        return oid

    def _new_list_id(self) -> int:
        lid = self._next_list_id
        self._next_list_id += 1
        return lid

    # ---- state changes ---------------------------------------------------------------
    def _store(self, order: Order) -> None:
        self.orders[order.order_id] = order
        r = self.rules[order.symbol]
        step = (r.market_step_size or r.step_size) if order.type == "MARKET" else r.step_size
        self.slicer.pick(
            order.order_id,
            order.symbol,
            order.client_order_id,
            order.orig_qty,
            step,
            order.time_in_force,
        )
        if order.is_open:
            self.open[order.symbol][order.order_id] = order

    def _close(self, order: Order) -> None:
        self.open[order.symbol].pop(order.order_id, None)
        self.slicer.forget(order.order_id)
        if order.locked:
            self.accounts[order.account].unlock(order.lock_asset, order.locked)
            order.locked = Decimal(0)

    def _lock(self, order: Order, asset: str, amount: Decimal) -> None:
        self.accounts[order.account].lock(asset, amount)
        order.lock_asset = asset
        order.locked += amount

    def _end(self, order: Order, status: str, exec_type: str, now: int, out: Outcome) -> None:
        """Finish an open order as CANCELED/EXPIRED, releasing its lock."""
        order.status = status  # type: ignore[assignment]
        order.update_time = now
        self._close(order)
        out.events.append(OrderEvent(order.copy(), exec_type, now))  # type: ignore[arg-type]

    def _execute(
        self, order: Order, qty: Decimal, price: Decimal, maker: bool, now: int, out: Outcome
    ) -> Trade:
        """Fill ``qty`` of ``order`` at ``price``; commission is taken from what is received."""
        r = self.rules[order.symbol]
        acct = self.accounts[order.account]
        qty = self.slicer.cap(order.order_id, qty)
        quote = qty * price
        pay_asset, pay, get_asset, gross = (
            (r.quote, quote, r.base, qty) if order.side == "BUY" else (r.base, qty, r.quote, quote)
        )
        if order.locked and order.lock_asset == pay_asset:
            take = min(pay, order.locked)
            acct.spend_locked(pay_asset, take)
            order.locked -= take
            if pay > take:
                acct.spend_free(pay_asset, pay - take)
        else:
            acct.spend_free(pay_asset, pay)
        fee = (gross * self.commission).quantize(COMMISSION_QUANTUM, rounding=ROUND_HALF_UP)
        acct.credit(get_asset, gross - fee)
        acct.update_time = now
        order.executed_qty += qty
        order.cumm_quote += quote
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        order.update_time = now
        trade = Trade(
            self._next_trade_id,
            order.order_id,
            order.order_list_id,
            order.account,
            order.symbol,
            order.side,
            price,
            qty,
            quote,
            fee,
            get_asset,
            now,
            maker,
        )
        self._next_trade_id += 1
        self.trades.append(trade)
        if order.status == "FILLED":
            self._close(order)
        out.trades.append(trade)
        out.events.append(OrderEvent(order.copy(), "TRADE", now, trade))
        return trade

    def _balance_event(self, key: str, now: int, out: Outcome) -> None:
        acct = self.accounts[key]
        changed = acct.take_dirty()
        if changed:
            acct.update_time = now
            out.events.append(BalanceEvent(key, now, changed))

    # ---- queries ---------------------------------------------------------------------
    def find_order(
        self, key: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order | None:
        """Order of account ``key`` by id (client id must then match) or by client id."""
        self.symbol_rules(symbol)
        if order_id is not None:
            o = self.orders.get(order_id)
            if o is None or o.account != key or o.symbol != symbol:
                return None
            return o if client_id is None or o.client_order_id == client_id else None
        matches = [
            o
            for o in self.orders.values()
            if o.account == key and o.symbol == symbol and o.client_order_id == client_id
        ]
        open_ones = [o for o in matches if o.is_open]
        found = open_ones or matches
        return found[-1] if found else None

    def get_order(
        self, key: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        """Like :meth:`find_order` but ``-2013 Order does not exist.`` when missing."""
        o = self.find_order(key, symbol, order_id, client_id)
        if o is None:
            raise SimError(-2013, NO_SUCH_ORDER)
        return o

    def open_orders(self, key: str, symbol: str | None = None) -> list[Order]:
        """Open orders of the account, oldest first."""
        symbols = [symbol] if symbol else list(self.open)
        if symbol:
            self.symbol_rules(symbol)
        out = [o for s in symbols for o in self.open[s].values() if o.account == key]
        return sorted(out, key=lambda o: o.order_id)

    def all_orders(self, key: str, symbol: str) -> list[Order]:
        """Every order of the account on ``symbol``, oldest first."""
        self.symbol_rules(symbol)
        return [o for o in self.orders.values() if o.account == key and o.symbol == symbol]

    def account_trades(self, key: str, symbol: str) -> list[Trade]:
        """Every trade of the account on ``symbol``, oldest first."""
        self.symbol_rules(symbol)
        return [t for t in self.trades if t.account == key and t.symbol == symbol]

    def get_list(self, key: str, list_id: int | None, list_client_id: str | None) -> OrderList:
        """An order list by id or client id (``-2011``... ``-2013`` when missing)."""
        for ol in reversed(self.lists.values()):
            if ol.account != key:
                continue
            if (list_id is not None and ol.order_list_id == list_id) or (
                list_id is None and ol.list_client_order_id == list_client_id
            ):
                return ol
        raise SimError(-2013, NO_SUCH_ORDER)
