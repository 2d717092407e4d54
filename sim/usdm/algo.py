"""USD-M conditional orders (the "algo service") and the per-price-point driver (pure).

Triggers: ``STOP``/``STOP_MARKET`` BUY when price ≥ trigger, SELL when ≤; ``TAKE_PROFIT*``
BUY when ≤, SELL when ≥; the price is the mark price (``workingType=MARK_PRICE``) or the
contract (last) price. The contract path is continuous, so a ``*_MARKET`` order triggered on
it fills at the trigger price; triggered on the mark price it fills at the last price.
``STOP``/``TAKE_PROFIT`` become LIMIT orders at ``price``. ``TRAILING_STOP_MARKET`` activates
at ``activatePrice`` (or at once) and fires when the price retraces ``callbackRate`` % from
the best price seen since activation. Status flow in ``ALGO_UPDATE``: NEW → TRIGGERING →
TRIGGERED → FINISHED (the actual order filled or expired); REJECTED when the actual order
cannot be placed (e.g. reduce-only with no position), EXPIRED for a closePosition order with
no position, CANCELED by the client.
"""

from __future__ import annotations

from decimal import Decimal

from sim.errors import SimError
from sim.usdm.matching import FuturesBook, _snap
from sim.usdm.models import AlgoOrder, AlgoRequest, AlgoUpdate, FutOrder, FutOutcome, OrderUpdate
from sim.usdm.rules import check_notional, check_price, check_qty

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_OPEN_ALGO = 200


def _fires(req: AlgoRequest, price: Decimal) -> bool:
    trig = req.trigger_price
    assert trig is not None
    rising = (req.type in ("STOP", "STOP_MARKET")) == (req.side == "BUY")
    return price >= trig if rising else price <= trig


class AlgoDesk:
    """Open and past conditional orders of every account."""

    def __init__(self, book: FuturesBook) -> None:
        self.book = book
        self.algos: dict[int, AlgoOrder] = {}
        self._next = 1

    def open_algos(self, key: str, symbol: str | None = None) -> list[AlgoOrder]:
        """Algo orders still waiting to trigger."""
        return [
            a
            for a in self.algos.values()
            if a.account == key and a.status == "NEW" and (symbol is None or a.req.symbol == symbol)
        ]

    def find(self, key: str, algo_id: int | None, client_id: str | None) -> AlgoOrder | None:
        """An algo order by id or client id."""
        for a in reversed(list(self.algos.values())):
            if a.account == key and (
                (algo_id is not None and a.algo_id == algo_id)
                or (algo_id is None and a.client_algo_id == client_id)
            ):
                return a
        return None

    def _ref_price(self, req: AlgoRequest) -> Decimal:
        if req.working_type == "MARK_PRICE":
            return self.book.mark(req.symbol)
        return self.book.last[req.symbol]

    def validate(self, key: str, req: AlgoRequest) -> None:
        """Every placement check; raises :class:`SimError`, changes nothing."""
        acct = self.book.account(key)
        r = self.book.rule(req.symbol)
        ref = self._ref_price(req)
        if req.type != "TRAILING_STOP_MARKET":
            assert req.trigger_price is not None
            check_price(r, req.trigger_price, ZERO)
        if req.price is not None:
            check_price(r, req.price, self.book.mark(req.symbol))
        if req.quantity is not None:
            check_qty(r, req.quantity, req.type.endswith("MARKET"))
            level = req.price or req.trigger_price or req.activate_price or ref
            check_notional(r, req.quantity, level, req.reduce_only)
        if acct.dual == (req.position_side == "BOTH"):
            raise SimError(-4061, "Order's position side does not match user's setting.")
        cid = req.client_algo_id
        if cid is not None and any(a.client_algo_id == cid for a in self.open_algos(key)):
            raise SimError(-4116, "ClientOrderId is duplicated.")
        if len(self.open_algos(key)) >= MAX_OPEN_ALGO:
            raise SimError(-2025, "Reach max open order limit.")
        if req.type == "TRAILING_STOP_MARKET":
            act = req.activate_price
            if act is not None and (act >= ref if req.side == "BUY" else act <= ref):
                raise SimError(-2021, "Order would immediately trigger.")
        elif _fires(req, ref):
            raise SimError(-2021, "Order would immediately trigger.")

    def place(self, key: str, req: AlgoRequest, now: int) -> tuple[AlgoOrder, FutOutcome]:
        """Validate and store a conditional order (ALGO_UPDATE ``NEW``)."""
        self.validate(key, req)
        aid = self._next
        self._next += 1
        algo = AlgoOrder(key, aid, req, req.client_algo_id or f"sim_algo_{aid}", now, now)
        if req.type == "TRAILING_STOP_MARKET" and req.activate_price is None:
            algo.activated, algo.extreme = True, self._ref_price(req)
        self.algos[aid] = algo
        out = FutOutcome()
        out.events.append(AlgoUpdate(key, _copy(algo), "NEW", now))
        return algo, out

    def cancel(
        self, key: str, algo_id: int | None, client_id: str | None, now: int
    ) -> tuple[AlgoOrder, FutOutcome]:
        """Cancel an open conditional order (``-2011`` when unknown or no longer open)."""
        self.book.account(key)
        algo = self.find(key, algo_id, client_id)
        if algo is None or algo.status != "NEW":
            raise SimError(-2011, "Unknown order sent.")
        out = FutOutcome()
        self._set(algo, "CANCELED", now, out)
        return algo, out

    def _set(
        self,
        algo: AlgoOrder,
        status: str,
        now: int,
        out: FutOutcome,
        actual: FutOrder | None = None,
    ) -> None:
        algo.status, algo.update_time = status, now
        out.events.append(AlgoUpdate(algo.account, _copy(algo), status, now, actual))

    # ---- triggering ------------------------------------------------------------------
    def check(self, symbol: str, last: Decimal, now: int, out: FutOutcome) -> None:
        """Trigger every open algo of ``symbol`` whose condition holds now."""
        for algo in [
            a for a in self.algos.values() if a.status == "NEW" and a.req.symbol == symbol
        ]:
            req = algo.req
            ref = self._ref_price(req)
            level = (
                self._trailing(algo, ref)
                if req.type == "TRAILING_STOP_MARKET"
                else (req.trigger_price if _fires(req, ref) else None)
            )
            if level is None:
                continue
            fill_at = level if req.working_type == "CONTRACT_PRICE" else last
            self._trigger(algo, fill_at, now, out)

    def _trailing(self, algo: AlgoOrder, price: Decimal) -> Decimal | None:
        req = algo.req
        buy = req.side == "BUY"
        if not algo.activated:
            act = req.activate_price
            assert act is not None
            if (price <= act) if buy else (price >= act):
                algo.activated, algo.extreme = True, price
            return None
        assert algo.extreme is not None and req.callback_rate is not None
        algo.extreme = min(algo.extreme, price) if buy else max(algo.extreme, price)
        back = algo.extreme * req.callback_rate / HUNDRED
        level = algo.extreme + back if buy else algo.extreme - back
        rules = self.book.rules[req.symbol]
        if (price >= level) if buy else (price <= level):
            return rules.to_price(level)
        return None

    def _trigger(self, algo: AlgoOrder, fill_at: Decimal, now: int, out: FutOutcome) -> None:
        req = algo.req
        book = self.book
        acct = book.accounts[algo.account]
        algo.trigger_time = now
        self._set(algo, "TRIGGERING", now, out)
        pos = acct.position(req.symbol, req.position_side)
        qty = req.quantity if req.quantity is not None else abs(pos.amount)
        reducing = pos.amount != 0 and (pos.amount > 0) != (req.side == "BUY")
        if (req.close_position or req.reduce_only) and not reducing:
            algo.fail_reason = "ReduceOnly Order is rejected."
            self._set(algo, "EXPIRED" if req.close_position else "REJECTED", now, out)
            return
        limit = req.type in ("STOP", "TAKE_PROFIT")
        oid = book._next_order
        book._next_order += 1
        order = FutOrder(
            account=algo.account,
            order_id=oid,
            client_order_id=algo.client_algo_id,
            symbol=req.symbol,
            side=req.side,
            type="LIMIT" if limit else "MARKET",
            orig_type=req.type,
            quantity=qty,
            price=req.price if limit and req.price is not None else ZERO,
            time_in_force=req.time_in_force if limit else "GTC",
            reduce_only=req.reduce_only,
            position_side=req.position_side,
            time=now,
            update_time=now,
            close_position=req.close_position,
            stop_price=req.trigger_price or ZERO,
            working_type=req.working_type,
        )
        book.register(order)
        algo.actual_order_id = oid
        self._set(algo, "TRIGGERED", now, out, _snap(order))
        out.events.append(OrderUpdate(algo.account, _snap(order), "NEW", now))
        last = book.last[req.symbol]
        if not limit:
            book.fill(acct, order, fill_at, False, now, out)
        elif (order.price >= last) if req.side == "BUY" else (order.price <= last):
            book.fill(acct, order, last, False, now, out)
        if not order.is_open:
            self._set(algo, "FINISHED", now, out, _snap(order))

    def finish_actuals(self, now: int, out: FutOutcome) -> None:
        """Mark TRIGGERED algos FINISHED once their actual order is no longer open."""
        for algo in self.algos.values():
            actual = self.book.orders.get(algo.actual_order_id or 0)
            if algo.status == "TRIGGERED" and actual is not None and not actual.is_open:
                self._set(algo, "FINISHED", now, out, _snap(actual))


def step_price(
    book: FuturesBook, desk: AlgoDesk, symbol: str, path: list[Decimal], mark: Decimal, now: int
) -> FutOutcome:
    """Walk ``path`` (contract prices) with ``mark`` as the new mark price: conditional
    triggers first at each point, then resting limits it touches."""
    out = FutOutcome()
    book.slicer.next_step()
    book.marks[symbol] = mark
    for p in path:
        book.last[symbol] = p
        desk.check(symbol, p, now, out)
        touched = book.on_path(symbol, [p], now)
        out.events.extend(touched.events)
        out.trades.extend(touched.trades)
    desk.finish_actuals(now, out)
    return out


def _copy(a: AlgoOrder) -> AlgoOrder:
    return AlgoOrder(**vars(a))
