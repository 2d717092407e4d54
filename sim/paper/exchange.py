"""The paper venue's matching: the simulator's spot engine, with the backtester's slippage
on every taker fill.

Fills are those of :class:`sim.spot.order_lists.ListExchange` (market orders and marketable limits
at the last price, resting limits at their price when the path touches them, triggered
stops at their level, OCO / OTO / OTOCO, partial-fill faults); a taker fill then moves
against the order by :class:`sim.slippage.Slippage` of the last closed candle's range,
rounded to the tick, and never beyond a limit order's own price. Maker fills never slip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal

from sim.slippage import Slippage
from sim.spot.filters import SymbolRules
from sim.spot.order_lists import ListExchange
from sim.spot.orders import PRICED_TYPES, Order, OrderRequest, Outcome, Trade


class PaperExchange(ListExchange):
    """Spot matching with slippage on taker fills; ``bar_range(symbol)`` is the candle
    range the model reads (the feed's last closed candle)."""

    def __init__(
        self,
        rules: Mapping[str, SymbolRules],
        commission: Decimal,
        slippage: Slippage,
        bar_range: Callable[[str], Decimal],
    ) -> None:
        super().__init__(dict(rules), commission)
        self.slippage = slippage
        self.bar_range = bar_range

    def slipped(self, symbol: str, side: str, price: Decimal) -> Decimal:
        """``price`` moved against a taker on ``side``, rounded to the tick."""
        rules = self.rules[symbol]
        moved = self.slippage.against(price, side, self.bar_range(symbol))
        return max(rules.to_price(moved), rules.tick_size)

    def validate(self, key: str, req: OrderRequest) -> Decimal:
        """The simulator's checks; a market buy must also afford its slipped price."""
        qty = super().validate(key, req)
        if req.type == "MARKET" and req.side == "BUY":
            r = self.rules[req.symbol]
            price = self.slipped(req.symbol, "BUY", self.price_of(req.symbol))
            self.account(key).require(r.quote, qty * price)
        return qty

    def _execute(
        self, order: Order, qty: Decimal, price: Decimal, maker: bool, now: int, out: Outcome
    ) -> Trade:
        if not maker:
            price = self._taker_price(order, qty, price)
        return super()._execute(order, qty, price, maker, now, out)

    def _taker_price(self, order: Order, qty: Decimal, price: Decimal) -> Decimal:
        moved = self.slipped(order.symbol, order.side, price)
        if order.type in PRICED_TYPES and order.price > 0:  # a limit is a limit
            moved = min(moved, order.price) if order.side == "BUY" else max(moved, order.price)
        if order.side == "BUY" and qty > 0:  # never more than the account can pay
            acct = self.accounts[order.account]
            locked = order.locked if order.lock_asset == self.rules[order.symbol].quote else 0
            payable = acct.available(self.rules[order.symbol].quote) + locked
            cap = (payable / qty).quantize(self.rules[order.symbol].tick_size, ROUND_DOWN)
            moved = min(moved, max(cap, price))
        return moved
