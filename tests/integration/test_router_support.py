"""Shared helpers for the router tests (no tests here): decision rows, fake venues, and
starting and stopping the router task.

``FakeSpot`` is a small in-memory exchange behind the :class:`router.venues.base.SpotVenue`
seam. It exists for what the simulator cannot do on demand: lose a response after
executing an order, fail a request without executing it, reject on command.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import asyncpg

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side
from greenlight.core.symbols import SymbolRules
from router.errors import DuplicateOrderError, OrderNotFoundError, UnknownOutcomeError, VenueError
from router.venues.base import (
    TERMINAL_STATUSES,
    ExecutionEvent,
    NewOco,
    NewOrder,
    NewOtoco,
    OrderListReport,
    OrderReport,
    TradeFill,
)

_open_times = itertools.count(1_600_000_000_000, 900_000)


def make_bracket(
    entry: str, stop: str, tps: tuple[str, ...], qty: str, symbol: str = "BTCUSDT",
    entry_type: str = "MARKET",
) -> Bracket:  # fmt: skip
    """A long spot bracket with ``qty`` split evenly over the take-profit rungs."""
    share = (D(qty) / len(tps)).quantize(D("0.00001"))
    legs = tuple(
        BracketLeg(price=D(p), quantity=share, r_multiple=D(i + 1)) for i, p in enumerate(tps)
    )
    return Bracket(
        market=Market.SPOT, symbol=symbol, side=Side.BUY, entry_type=entry_type,
        entry_price=D(entry), quantity=D(qty), stop_price=D(stop), take_profits=legs,
        risk_quote=D("10"), risk_fraction=D("0.005"), equity_quote=D("10000"),
    )  # fmt: skip


async def insert_decision(
    pool: asyncpg.Pool,
    bracket: Bracket,
    state: str = "APPROVED",
    ttl_s: float = 600,
    venue: str = "sim",
) -> int:
    """Insert a decision row as the engine and the bot would leave it."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    decision_id: int = await pool.fetchval(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at, decided_at, decided_by, decided_via)"
        " VALUES ($1, 'spot', $2, '15m', $3, 'BUY', $4, $5, '{}'::jsonb, $6,"
        " CASE WHEN $4 = 'APPROVED' THEN clock_timestamp() END, 'tester', 'console')"
        " RETURNING id",
        venue,
        bracket.symbol,
        next(_open_times),
        state,
        bracket.model_dump(mode="json"),
        expires,
    )
    return decision_id


async def wait_router_ready(task: asyncio.Task[None], ready: asyncio.Event) -> None:
    """Return once the router ``task`` set ``ready``; re-raise if it died first."""
    done, _ = await asyncio.wait(
        [task, asyncio.create_task(ready.wait())], timeout=20,
        return_when=asyncio.FIRST_COMPLETED,
    )  # fmt: skip
    if task in done:
        task.result()
    assert ready.is_set(), "router did not become ready"


async def stop_router_task(task: asyncio.Task[None]) -> None:
    """Cancel the router ``task`` and wait for it to finish."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def decision_state(pool: asyncpg.Pool, decision_id: int) -> str:
    """The decision's current state."""
    state: str = await pool.fetchval("SELECT state FROM decisions WHERE id = $1", decision_id)
    return state


@dataclass
class FakeOrder:
    """One order inside :class:`FakeSpot`."""

    cid: str
    order_id: int
    side: str
    order_type: str
    qty: D
    price: D = D(0)
    stop: D = D(0)
    status: str = "NEW"
    executed: D = D(0)
    quote: D = D(0)
    list_id: int = -1
    fills: list[TradeFill] = field(default_factory=list)


class FakeVenueBase:
    """What the in-memory venues share: fixed rules, a settable price, scripted failures."""

    def __init__(self, rules: SymbolRules, price: D, first_trade_id: int) -> None:
        self._rules = rules
        self.price = price
        self.lose_responses = 0  # execute the next placement(s), then raise UnknownOutcome
        self.reject_with: VenueError | None = None
        self._ids = itertools.count(1)
        self._trades = itertools.count(first_trade_id)
        self.now_ms = 1_796_515_200_000  # the venue's clock, moved by the tests

    async def start(self) -> None:
        """Nothing to connect."""

    async def server_time(self) -> int:
        return self.now_ms

    async def close(self) -> None:
        """Nothing to release."""

    async def rules(self, symbol: str) -> SymbolRules:
        return self._rules

    async def last_price(self, symbol: str) -> D:
        return self.price

    def _raise_scripted_rejection(self) -> None:
        if self.reject_with is not None:
            err, self.reject_with = self.reject_with, None
            raise err

    def _lose(self) -> None:
        if self.lose_responses:
            self.lose_responses -= 1
            raise UnknownOutcomeError("fake: executed, but the response was lost")


class FakeSpot(FakeVenueBase):
    """An in-memory spot venue; ``move(price)`` triggers resting orders."""

    name = "fake"

    def __init__(self, rules: SymbolRules, price: D, commission: D = D("0.001")) -> None:
        super().__init__(rules, price, first_trade_id=1000)
        self.commission = commission
        self.orders: dict[str, FakeOrder] = {}
        self.lists: dict[str, list[str]] = {}
        self.events: list[ExecutionEvent] = []
        self.place_calls: list[str] = []
        self.drop_requests = 0  # raise UnknownOutcome without executing
        self.reject_oco_with: VenueError | None = None
        self.balance: dict[str, D] = {"USDT": D("100000")}  # what the router's checks see

    def _gate(self, cid: str) -> None:
        self.place_calls.append(cid)
        self._raise_scripted_rejection()
        if self.drop_requests:
            self.drop_requests -= 1
            raise UnknownOutcomeError("fake: request lost before the venue")
        existing = self.orders.get(cid)
        if existing is not None and existing.status not in TERMINAL_STATUSES:
            raise DuplicateOrderError("Duplicate order sent.", -2010, 400)

    async def place_order(self, order: NewOrder) -> OrderReport:
        self._gate(order.client_order_id)
        o = FakeOrder(order.client_order_id, next(self._ids), order.side, order.order_type,
                      order.quantity, order.price or D(0))  # fmt: skip
        self.orders[o.cid] = o
        self._event(o, "NEW")
        if order.order_type == "MARKET":
            self._fill(o, self.price)
        self._lose()
        return self.report(o)

    async def place_oco(self, oco: NewOco) -> OrderListReport:
        if self.reject_oco_with is not None:
            err, self.reject_oco_with = self.reject_oco_with, None
            raise err
        self._gate(oco.stop_client_id)
        list_id = next(self._ids)
        tp = FakeOrder(oco.take_profit_client_id, next(self._ids), oco.side, "LIMIT_MAKER",
                       oco.quantity, oco.take_profit_price, list_id=list_id)  # fmt: skip
        sl = FakeOrder(oco.stop_client_id, next(self._ids), oco.side, "STOP_LOSS", oco.quantity,
                       stop=oco.stop_price, list_id=list_id)  # fmt: skip
        for o in (tp, sl):
            self.orders[o.cid] = o
            self._event(o, "NEW")
        self.lists[oco.list_client_id] = [tp.cid, sl.cid]
        self._lose()
        return OrderListReport(list_id, oco.list_client_id, "EXECUTING",
                               (self.report(tp), self.report(sl)))  # fmt: skip

    async def place_otoco(self, otoco: NewOtoco) -> OrderListReport:
        """A working LIMIT entry; the pending OCO activates when it is fully filled."""
        entry, oco = otoco.entry, otoco.protection
        self._gate(entry.client_order_id)
        list_id = next(self._ids)
        work = FakeOrder(entry.client_order_id, next(self._ids), entry.side, "LIMIT",
                         entry.quantity, entry.price or D(0), list_id=list_id)  # fmt: skip
        tp = FakeOrder(oco.take_profit_client_id, next(self._ids), oco.side, "LIMIT_MAKER",
                       oco.quantity, oco.take_profit_price, list_id=list_id,
                       status="PENDING_NEW")  # fmt: skip
        sl = FakeOrder(oco.stop_client_id, next(self._ids), oco.side, "STOP_LOSS", oco.quantity,
                       stop=oco.stop_price, list_id=list_id, status="PENDING_NEW")  # fmt: skip
        for o in (work, tp, sl):
            self.orders[o.cid] = o
        self.lists[oco.list_client_id] = [work.cid, tp.cid, sl.cid]
        self._event(work, "NEW")
        self._lose()
        return OrderListReport(list_id, oco.list_client_id, "EXECUTING",
                               (self.report(work), self.report(tp), self.report(sl)))  # fmt: skip

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        o = self.orders.get(client_order_id)
        if o is None:
            raise OrderNotFoundError("Order does not exist.", -2013, 400)
        return self.report(o, with_fills=False)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        o = self.orders.get(client_order_id)
        if o is None or o.status in TERMINAL_STATUSES:
            raise OrderNotFoundError("Unknown order sent.", -2011, 400)
        for sib in self._list_of(o):  # cancelling any order of a list cancels the list
            if sib.status not in TERMINAL_STATUSES:
                sib.status = "CANCELED"
                self._event(sib, "CANCELED")
        return self.report(o, with_fills=False)

    def _list_of(self, o: FakeOrder) -> list[FakeOrder]:
        if o.list_id == -1:
            return [o]
        return [x for x in self.orders.values() if x.list_id == o.list_id]

    async def cancel_order_list(self, symbol: str, list_client_id: str) -> None:
        for cid in self.lists.get(list_client_id, []):
            o = self.orders[cid]
            if o.status not in TERMINAL_STATUSES:
                o.status = "CANCELED"
                self._event(o, "CANCELED")

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        return [self.report(o) for o in self.orders.values() if o.status not in TERMINAL_STATUSES]

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        o = next(o for o in self.orders.values() if str(o.order_id) == order_id)
        return list(o.fills)

    async def balances(self) -> dict[str, D]:
        """The configured balances plus the base asset the fills left on the account (net of
        base-asset commission)."""
        held = D(0)
        for o in self.orders.values():
            for f in o.fills:
                fee = f.commission if f.commission_asset == self._rules.base_asset else D(0)
                held += f.qty - fee if o.side == "BUY" else -f.qty
        base = self._rules.base_asset
        return dict(self.balance) | {base: self.balance.get(base, D(0)) + held}

    def move(self, price: D) -> None:
        """Set the last price and trigger take-profits and stops that it reaches."""
        self.price = price
        for o in list(self.orders.values()):
            if o.status in TERMINAL_STATUSES or o.side != "SELL":
                continue
            hit_tp = o.order_type == "LIMIT_MAKER" and price >= o.price
            hit_sl = o.order_type == "STOP_LOSS" and price <= o.stop
            if hit_tp or hit_sl:
                self._fill(o, o.price if hit_tp else price)
                for sib in self.orders.values():
                    live = sib.status not in TERMINAL_STATUSES
                    if live and sib.list_id == o.list_id != -1 and sib is not o:
                        sib.status = "EXPIRED"
                        self._event(sib, "EXPIRED")

    def _fill(self, o: FakeOrder, price: D) -> None:
        qty = o.qty - o.executed
        base, quote = self._rules.base_asset, self._rules.quote_asset
        fee, asset = ((qty * self.commission, base) if o.side == "BUY"
                      else (qty * price * self.commission, quote))  # fmt: skip
        fill = TradeFill(str(next(self._trades)), price, qty, fee, asset, 1)
        o.fills.append(fill)
        o.executed += qty
        o.quote += qty * price
        o.status = "FILLED"
        self._event(o, "TRADE", fill)
        for sib in self._list_of(o):  # an OTOCO's pending legs activate on the full fill
            if sib.status == "PENDING_NEW":
                sib.status = "NEW"
                self._event(sib, "NEW")

    def _event(self, o: FakeOrder, exec_type: str, fill: TradeFill | None = None) -> None:
        self.events.append(ExecutionEvent(
            symbol=self._rules.symbol, client_order_id=o.cid, order_id=str(o.order_id),
            order_list_id=o.list_id, side=o.side, order_type=o.order_type,
            execution_type=exec_type, status=o.status if exec_type != "NEW" else "NEW",
            orig_qty=o.qty, cum_qty=o.executed, cum_quote=o.quote, reject_reason="NONE",
            event_time_ms=1, fill=fill,
        ))  # fmt: skip

    def report(self, o: FakeOrder, with_fills: bool = True) -> OrderReport:
        """The order as a REST response."""
        return OrderReport(
            symbol=self._rules.symbol, order_id=str(o.order_id), client_order_id=o.cid,
            order_list_id=o.list_id, status=o.status, side=o.side, order_type=o.order_type,
            price=o.price, orig_qty=o.qty, executed_qty=o.executed, cum_quote=o.quote,
            stop_price=o.stop, time_ms=1, fills=tuple(o.fills) if with_fills else (),
        )  # fmt: skip


def btcusdt_rules() -> SymbolRules:
    """BTCUSDT filters as Binance serves them."""
    info: dict[str, Any] = {"symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000",
             "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000",
             "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "9000000"},
        ],
    }]}  # fmt: skip
    return SymbolRules.from_exchange_info(info, "BTCUSDT")
