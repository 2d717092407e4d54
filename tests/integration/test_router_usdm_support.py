"""Shared helpers for the USD-M router tests (no tests here): a fake futures venue.

``FakeUsdm`` is an in-memory one-way-mode USD-M account behind the
:class:`router.venues.base.FuturesVenue` seam: MARKET orders fill at the last price,
reduce-only is enforced (-2022), algo orders trigger on ``move(price)`` and stay resting
until cancelled (as on Binance, a reduce-only TP does not vanish when the position closes),
and a trigger already passed at placement is refused (-2021).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import asyncpg

from greenlight.core.contracts import Bracket, BracketLeg, Market, Side
from greenlight.core.symbols import SymbolRules
from router.errors import (
    DuplicateOrderError,
    NoChangeNeeded,
    OrderNotFoundError,
    ReduceOnlyRejectedError,
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
    NewOrder,
    OrderReport,
    TradeFill,
)
from tests.integration.test_router_support import FakeVenueBase

FEE = D("0.0004")
_open_times = itertools.count(1_700_000_000_000, 300_000)


def xrp_rules() -> SymbolRules:
    """XRPUSDT USD-M filters (tick 0.0001, step 0.1, min notional 5)."""
    info: dict[str, Any] = {"symbols": [{
        "symbol": "XRPUSDT", "status": "TRADING", "baseAsset": "XRP", "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.0143", "maxPrice": "100000",
             "tickSize": "0.0001"},
            {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "10000000", "stepSize": "0.1"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.1", "maxQty": "2000000",
             "stepSize": "0.1"},
        ],
    }]}  # fmt: skip
    return replace(SymbolRules.from_exchange_info(info, "XRPUSDT"), min_notional=D(5))


def usdm_bracket(
    side: str, entry: str, stop: str, tps: tuple[str, ...], qty: str, leverage: int = 2
) -> Bracket:
    """A USD-M bracket with ``qty`` split evenly over the take-profit rungs."""
    share = (D(qty) / len(tps)).quantize(D("0.1"))
    legs = tuple(BracketLeg(price=D(p), quantity=share, r_multiple=D(i + 1))
                 for i, p in enumerate(tps))  # fmt: skip
    return Bracket(
        market=Market.USDM, symbol="XRPUSDT", side=Side(side), entry_type="MARKET",
        entry_price=D(entry), quantity=D(qty), stop_price=D(stop), take_profits=legs,
        risk_quote=D("10"), risk_fraction=D("0.01"), equity_quote=D("1000"), leverage=leverage,
    )  # fmt: skip


async def insert_usdm_decision(
    pool: asyncpg.Pool, bracket: Bracket, state: str = "APPROVED", venue: str = "sim"
) -> int:
    """Insert an approved USD-M decision as the bot would leave it."""
    decision_id: int = await pool.fetchval(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at, decided_at, decided_by, decided_via)"
        " VALUES ($1, 'usdm', $2, '5m', $3, $4, $5, $6, '{}'::jsonb, $7, clock_timestamp(),"
        " 'tester', 'console') RETURNING id",
        venue, bracket.symbol, next(_open_times), bracket.side.value, state,
        bracket.model_dump(mode="json"), datetime.now(UTC) + timedelta(minutes=10),
    )  # fmt: skip
    return decision_id


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
        return [FuturesPosition(self._rules.symbol, self.position, self.entry, upnl, lev,
                                self.margin_type)]  # fmt: skip

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
        self.events.append(ExecutionEvent(
            symbol=self._rules.symbol, client_order_id=o.cid, order_id=str(o.order_id),
            order_list_id=-1, side=o.side, order_type="MARKET", execution_type=exec_type,
            status=o.status if exec_type != "NEW" else "NEW", orig_qty=o.qty,
            cum_qty=o.executed, cum_quote=o.quote, reject_reason="NONE", event_time_ms=1,
            fill=fill,
        ))  # fmt: skip

    def report(self, o: FakeFutOrder) -> OrderReport:
        """A plain order as a REST response (futures responses carry no fills)."""
        return OrderReport(
            symbol=self._rules.symbol, order_id=str(o.order_id), client_order_id=o.cid,
            order_list_id=-1, status=o.status, side=o.side, order_type="MARKET", price=D(0),
            orig_qty=o.qty, executed_qty=o.executed, cum_quote=o.quote, stop_price=D(0),
            time_ms=1,
        )  # fmt: skip

    def algo_report(self, a: FakeAlgo) -> AlgoReport:
        """An algo order as a REST response or ``ALGO_UPDATE``."""
        return AlgoReport(
            symbol=a.algo.symbol, algo_id=str(a.algo_id), client_algo_id=a.algo.client_algo_id,
            order_type=a.algo.order_type, side=a.algo.side, status=a.status,
            trigger_price=a.algo.trigger_price, quantity=a.algo.quantity or D(0),
            close_position=a.algo.close_position,
            actual_order_id=str(a.actual) if a.actual else None, filled_qty=a.filled,
        )  # fmt: skip
