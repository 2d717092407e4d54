"""In-memory venues behind the router's venue seams, for what the simulator cannot do on
demand: lose a response after executing an order, fail a request without executing it,
reject on command.

``FakeSpot`` is a small spot exchange behind :class:`router.venues.base.SpotVenue`.
``FakeUsdm`` is a one-way-mode USD-M account behind :class:`router.venues.base.FuturesVenue`:
MARKET orders fill at the last price, reduce-only is enforced (-2022), algo orders trigger on
``move(price)`` and stay resting until cancelled (as on Binance, a reduce-only TP does not
vanish when the position closes), and a trigger already passed at placement is refused
(-2021).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal as D

from greenlight.core.symbols import SymbolRules
from router.errors import (
    DuplicateOrderError,
    NoChangeNeeded,
    OrderNotFoundError,
    ReduceOnlyRejectedError,
    UnknownOutcomeError,
    VenueError,
    WouldTriggerError,
)
from router.venues.base import (
    ALGO_TERMINAL,
    TERMINAL_STATUSES,
    AlgoReport,
    ExecutionEvent,
    FuturesAccount,
    FuturesBalance,
    FuturesPosition,
    NewAlgoOrder,
    NewOco,
    NewOrder,
    NewOtoco,
    OrderListReport,
    OrderReport,
    TradeFill,
)
from tests.symbol_rules import BTCUSDT

FEE = D("0.0004")


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
        o = FakeOrder(
            order.client_order_id,
            next(self._ids),
            order.side,
            order.order_type,
            order.quantity,
            order.price or D(0),
        )
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
        tp = FakeOrder(
            oco.take_profit_client_id,
            next(self._ids),
            oco.side,
            "LIMIT_MAKER",
            oco.quantity,
            oco.take_profit_price,
            list_id=list_id,
        )
        sl = FakeOrder(
            oco.stop_client_id,
            next(self._ids),
            oco.side,
            "STOP_LOSS",
            oco.quantity,
            stop=oco.stop_price,
            list_id=list_id,
        )
        for o in (tp, sl):
            self.orders[o.cid] = o
            self._event(o, "NEW")
        self.lists[oco.list_client_id] = [tp.cid, sl.cid]
        self._lose()
        return OrderListReport(
            list_id, oco.list_client_id, "EXECUTING", (self.report(tp), self.report(sl))
        )

    async def place_otoco(self, otoco: NewOtoco) -> OrderListReport:
        """A working LIMIT entry; the pending OCO activates when it is fully filled."""
        entry, oco = otoco.entry, otoco.protection
        self._gate(entry.client_order_id)
        list_id = next(self._ids)
        work = FakeOrder(
            entry.client_order_id,
            next(self._ids),
            entry.side,
            "LIMIT",
            entry.quantity,
            entry.price or D(0),
            list_id=list_id,
        )
        tp = FakeOrder(
            oco.take_profit_client_id,
            next(self._ids),
            oco.side,
            "LIMIT_MAKER",
            oco.quantity,
            oco.take_profit_price,
            list_id=list_id,
            status="PENDING_NEW",
        )
        sl = FakeOrder(
            oco.stop_client_id,
            next(self._ids),
            oco.side,
            "STOP_LOSS",
            oco.quantity,
            stop=oco.stop_price,
            list_id=list_id,
            status="PENDING_NEW",
        )
        for o in (work, tp, sl):
            self.orders[o.cid] = o
        self.lists[oco.list_client_id] = [work.cid, tp.cid, sl.cid]
        self._event(work, "NEW")
        self._lose()
        return OrderListReport(
            list_id,
            oco.list_client_id,
            "EXECUTING",
            (self.report(work), self.report(tp), self.report(sl)),
        )

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
        fee, asset = (
            (qty * self.commission, base)
            if o.side == "BUY"
            else (qty * price * self.commission, quote)
        )
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
        self.events.append(
            ExecutionEvent(
                symbol=self._rules.symbol,
                client_order_id=o.cid,
                order_id=str(o.order_id),
                order_list_id=o.list_id,
                side=o.side,
                order_type=o.order_type,
                execution_type=exec_type,
                status=o.status if exec_type != "NEW" else "NEW",
                orig_qty=o.qty,
                cum_qty=o.executed,
                cum_quote=o.quote,
                reject_reason="NONE",
                event_time_ms=1,
                fill=fill,
            )
        )

    def report(self, o: FakeOrder, with_fills: bool = True) -> OrderReport:
        """The order as a REST response."""
        return OrderReport(
            symbol=self._rules.symbol,
            order_id=str(o.order_id),
            client_order_id=o.cid,
            order_list_id=o.list_id,
            status=o.status,
            side=o.side,
            order_type=o.order_type,
            price=o.price,
            orig_qty=o.qty,
            executed_qty=o.executed,
            cum_quote=o.quote,
            stop_price=o.stop,
            time_ms=1,
            fills=tuple(o.fills) if with_fills else (),
        )


def btcusdt_rules() -> SymbolRules:
    """BTCUSDT filters as Binance serves them (:data:`tests.symbol_rules.BTCUSDT`)."""
    return BTCUSDT


@dataclass
class FakeAlgo:
    """One conditional order inside :class:`FakeUsdm`."""

    algo: NewAlgoOrder
    algo_id: int
    status: str = "NEW"
    actual: int | None = None
    filled: D = D(0)


@dataclass
class FakeFutOrder:
    """One plain order (or a triggered algo's order) inside :class:`FakeUsdm`."""

    cid: str
    order_id: int
    side: str
    qty: D
    status: str = "NEW"
    executed: D = D(0)
    quote: D = D(0)
    fills: list[TradeFill] = field(default_factory=list)


class FakeUsdm(FakeVenueBase):
    """An in-memory USD-M venue; ``move(price)`` triggers resting algo orders."""

    name = "fake-usdm"

    def __init__(self, rules: SymbolRules, price: D, wallet: D = D(10000)) -> None:
        super().__init__(rules, price, first_trade_id=5000)
        self.wallet = wallet
        self.position = D(0)
        self.entry = D(0)
        self.leverage: dict[str, int] = {}
        self.margin_type = "CROSSED"
        self.orders: dict[str, FakeFutOrder] = {}
        self.algos: dict[str, FakeAlgo] = {}
        self.events: list[ExecutionEvent | AlgoReport] = []
        self.calls: list[str] = []

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        self.calls.append(f"leverage {leverage}")
        self.leverage[symbol] = leverage
        return leverage

    async def ensure_margin_type(self, symbol: str, margin_type: str) -> bool:
        self.calls.append(f"margin {margin_type}")
        try:
            if self.margin_type == margin_type:
                raise NoChangeNeeded("No need to change margin type.", -4046, 400)
        except NoChangeNeeded:
            return False
        self.margin_type = margin_type
        return True

    def _gate(self, cid: str) -> None:
        self.calls.append(cid)
        self._raise_scripted_rejection()
        live = self.orders.get(cid) or self.algos.get(cid)
        if live is not None and live.status in ("NEW", "PARTIALLY_FILLED"):
            raise DuplicateOrderError("ClientOrderId is duplicated.", -4116, 400)

    async def place_order(self, order: NewOrder) -> OrderReport:
        self._gate(order.client_order_id)
        signed = order.quantity if order.side == "BUY" else -order.quantity
        if order.reduce_only and (self.position == 0 or (signed > 0) == (self.position > 0)):
            raise ReduceOnlyRejectedError("ReduceOnly Order is rejected.", -2022, 400)
        qty = min(order.quantity, abs(self.position)) if order.reduce_only else order.quantity
        o = FakeFutOrder(order.client_order_id, next(self._ids), order.side, qty)
        self.orders[o.cid] = o
        self._order_event(o, "NEW")
        self._fill(o, self.price)
        self._lose()
        return self.report(o)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        o = self.orders.get(client_order_id)
        if o is None:
            raise OrderNotFoundError("Order does not exist.", -2013, 400)
        return self.report(o)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        o = self.orders.get(client_order_id)
        if o is None or o.status in TERMINAL_STATUSES:
            raise OrderNotFoundError("Unknown order sent.", -2011, 400)
        o.status = "CANCELED"
        self._order_event(o, "CANCELED")
        return self.report(o)

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        return [self.report(o) for o in self.orders.values() if o.status not in TERMINAL_STATUSES]

    async def trades(self, symbol: str, order_id: str) -> list[TradeFill]:
        o = next((o for o in self.orders.values() if str(o.order_id) == order_id), None)
        return list(o.fills) if o else []

    async def place_algo(self, algo: NewAlgoOrder) -> AlgoReport:
        self._gate(algo.client_algo_id)
        if self._crossed(algo):
            raise WouldTriggerError("Order would immediately trigger.", -2021, 400)
        a = FakeAlgo(algo, next(self._ids))
        self.algos[algo.client_algo_id] = a
        self.events.append(self.algo_report(a))
        self._lose()
        return self.algo_report(a)

    async def query_algo(self, symbol: str, client_algo_id: str) -> AlgoReport:
        a = self.algos.get(client_algo_id)
        if a is None:
            raise OrderNotFoundError("Order does not exist.", -2013, 400)
        return self.algo_report(a)

    async def cancel_algo(self, symbol: str, client_algo_id: str) -> AlgoReport:
        a = self.algos.get(client_algo_id)
        if a is None or a.status in ALGO_TERMINAL:
            raise OrderNotFoundError("Unknown order sent.", -2011, 400)
        a.status = "CANCELED"
        self.events.append(self.algo_report(a))
        return self.algo_report(a)

    async def open_algos(self, symbol: str) -> list[AlgoReport]:
        return [self.algo_report(a) for a in self.algos.values() if a.status == "NEW"]

    async def positions(self) -> list[FuturesPosition]:
        if self.position == 0:
            return []
        lev = self.leverage.get(self._rules.symbol, 1)
        upnl = (self.price - self.entry) * self.position
        return [
            FuturesPosition(
                self._rules.symbol, self.position, self.entry, upnl, lev, self.margin_type
            )
        ]

    async def account(self) -> FuturesAccount:
        upnl = (self.price - self.entry) * self.position
        return FuturesAccount(self.wallet, upnl, tuple(await self.positions()))

    async def balances(self) -> dict[str, FuturesBalance]:
        upnl = (self.price - self.entry) * self.position
        return {"USDT": FuturesBalance("USDT", self.wallet, upnl, self.wallet)}

    def open_algo_ids(self) -> list[str]:
        """Client ids of the algo orders still resting."""
        return sorted(c for c, a in self.algos.items() if a.status == "NEW")

    def _crossed(self, algo: NewAlgoOrder) -> bool:
        up = (algo.order_type == "STOP_MARKET") == (algo.side == "BUY")
        return self.price >= algo.trigger_price if up else self.price <= algo.trigger_price

    def move(self, price: D) -> None:
        """Set the last price and trigger the algo orders it reaches (in placement order)."""
        self.price = price
        for a in list(self.algos.values()):
            if a.status != "NEW" or not self._crossed(a.algo):
                continue
            qty = abs(self.position) if a.algo.close_position else a.algo.quantity or D(0)
            qty = min(qty, abs(self.position))
            if qty <= 0:
                a.status = "EXPIRED"
                self.events.append(self.algo_report(a))
                continue
            o = FakeFutOrder(f"autoclose-{a.algo_id}", next(self._ids), a.algo.side, qty)
            self.orders[o.cid] = o
            a.status, a.actual = "TRIGGERED", o.order_id
            self.events.append(self.algo_report(a))
            self._fill(o, a.algo.trigger_price)
            a.status, a.filled = "FINISHED", o.executed
            self.events.append(self.algo_report(a))

    def _fill(self, o: FakeFutOrder, price: D) -> None:
        qty = o.qty - o.executed
        signed = qty if o.side == "BUY" else -qty
        realized = D(0)
        if self.position and (signed > 0) != (self.position > 0):
            closed = min(qty, abs(self.position))
            realized = (price - self.entry) * closed * (1 if self.position > 0 else -1)
        else:
            total = abs(self.position) + qty
            self.entry = (self.entry * abs(self.position) + price * qty) / total
        self.position += signed
        if self.position == 0:
            self.entry = D(0)
        fee = qty * price * FEE
        self.wallet += realized - fee
        fill = TradeFill(str(next(self._trades)), price, qty, fee, "USDT", 1, realized)
        o.fills.append(fill)
        o.executed += qty
        o.quote += qty * price
        o.status = "FILLED"
        self._order_event(o, "TRADE", fill)

    def _order_event(self, o: FakeFutOrder, exec_type: str, fill: TradeFill | None = None) -> None:
        self.events.append(
            ExecutionEvent(
                symbol=self._rules.symbol,
                client_order_id=o.cid,
                order_id=str(o.order_id),
                order_list_id=-1,
                side=o.side,
                order_type="MARKET",
                execution_type=exec_type,
                status=o.status if exec_type != "NEW" else "NEW",
                orig_qty=o.qty,
                cum_qty=o.executed,
                cum_quote=o.quote,
                reject_reason="NONE",
                event_time_ms=1,
                fill=fill,
            )
        )

    def report(self, o: FakeFutOrder) -> OrderReport:
        """A plain order as a REST response (futures responses carry no fills)."""
        return OrderReport(
            symbol=self._rules.symbol,
            order_id=str(o.order_id),
            client_order_id=o.cid,
            order_list_id=-1,
            status=o.status,
            side=o.side,
            order_type="MARKET",
            price=D(0),
            orig_qty=o.qty,
            executed_qty=o.executed,
            cum_quote=o.quote,
            stop_price=D(0),
            time_ms=1,
        )

    def algo_report(self, a: FakeAlgo) -> AlgoReport:
        """An algo order as a REST response or ``ALGO_UPDATE``."""
        return AlgoReport(
            symbol=a.algo.symbol,
            algo_id=str(a.algo_id),
            client_algo_id=a.algo.client_algo_id,
            order_type=a.algo.order_type,
            side=a.algo.side,
            status=a.status,
            trigger_price=a.algo.trigger_price,
            quantity=a.algo.quantity or D(0),
            close_position=a.algo.close_position,
            actual_order_id=str(a.actual) if a.actual else None,
            filled_qty=a.filled,
        )
