"""USD-M account arithmetic: wallet, positions, margin, PnL and liquidation price (pure).

Model (USDT-margined, one asset): ``wallet`` is the total wallet balance and includes every
isolated position's margin; the cross wallet is ``wallet - Σ isolated wallets``. Opening or
increasing an isolated position moves ``notional / leverage`` into its isolated wallet;
reducing releases the same share. Realized PnL, commissions and funding go to the wallet
(funding of an isolated position goes to its isolated wallet). Liquidation price follows
Binance's one-way formula with a single maintenance-margin rate and no maintenance amount:
``LP = (WB - TMM + UPNL - s·|q|·E) / (|q|·mmr - s·|q|)`` where ``WB`` is the isolated wallet
(isolated) or cross wallet (cross), and ``TMM``/``UPNL`` are the other cross positions'.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sim.usdm.models import MarginType, Position, PositionSide

ZERO = Decimal(0)
PRICE_Q = Decimal("0.00000001")


class FutAccount:
    """Futures state of one API key."""

    def __init__(self, key: str, wallet: Decimal, default_leverage: int = 20) -> None:
        self.key = key
        self.wallet = Decimal(wallet)
        self.default_leverage = default_leverage
        self.leverage: dict[str, int] = {}
        self.margin_type: dict[str, MarginType] = {}
        self.dual = False
        self.positions: dict[tuple[str, PositionSide], Position] = {}
        self.update_time = 0

    def lev(self, symbol: str) -> int:
        """Leverage of ``symbol``."""
        return self.leverage.get(symbol, self.default_leverage)

    def mtype(self, symbol: str) -> MarginType:
        """Margin type of ``symbol`` (CROSSED by default)."""
        return self.margin_type.get(symbol, "CROSSED")

    def position(self, symbol: str, side: PositionSide) -> Position:
        """The position record (created flat on first use)."""
        return self.positions.setdefault((symbol, side), Position(symbol, side))

    def open_positions(self) -> list[Position]:
        """Positions with a non-zero amount."""
        return [p for p in self.positions.values() if p.amount != 0]

    def cross_wallet(self) -> Decimal:
        """Wallet minus every isolated margin."""
        return self.wallet - sum((p.isolated_wallet for p in self.positions.values()), ZERO)

    def unrealized(self, pos: Position, mark: Decimal) -> Decimal:
        """Unrealized PnL of ``pos`` at ``mark``."""
        return pos.amount * (mark - pos.entry_price) if pos.amount else ZERO

    def initial_margin(self, pos: Position, mark: Decimal) -> Decimal:
        """``|amount| × mark / leverage``."""
        return abs(pos.amount) * mark / self.lev(pos.symbol)

    def available(self, marks: Mapping[str, Decimal], order_margin: Decimal) -> Decimal:
        """Cross wallet + cross unrealized PnL − cross initial margin − open-order margin."""
        total = self.cross_wallet() - order_margin
        for p in self.open_positions():
            if self.mtype(p.symbol) == "CROSSED":
                mark = marks.get(p.symbol, p.entry_price)
                total += self.unrealized(p, mark) - self.initial_margin(p, mark)
        return total

    def apply_fill(self, pos: Position, delta: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Apply a signed fill of ``delta`` at ``price``; returns the realized PnL."""
        realized = ZERO
        old = pos.amount
        if old != 0 and (old > 0) != (delta > 0):
            closed = min(abs(delta), abs(old))
            sign = Decimal(1) if old > 0 else Decimal(-1)
            realized = (price - pos.entry_price) * closed * sign
            if pos.isolated_wallet:
                pos.isolated_wallet -= pos.isolated_wallet * closed / abs(old)
        new = old + delta
        if new == 0:
            pos.entry_price = ZERO
            pos.isolated_wallet = ZERO
        elif old == 0 or (old > 0) != (new > 0):
            pos.entry_price = price
        elif abs(new) > abs(old):
            pos.entry_price = (
                (pos.entry_price * abs(old) + price * abs(delta)) / abs(new)
            ).quantize(PRICE_Q)
        opened = abs(new) - abs(old) if (old >= 0) == (new >= 0) or old == 0 else abs(new)
        if opened > 0 and self.mtype(pos.symbol) == "ISOLATED":
            pos.isolated_wallet += opened * price / self.lev(pos.symbol)
        pos.amount = new
        pos.realized += realized
        self.wallet += realized - fee
        return realized

    def liquidation_price(
        self, pos: Position, marks: Mapping[str, Decimal], mmr: Mapping[str, Decimal]
    ) -> Decimal:
        """Liquidation price of ``pos`` (0 when it cannot be liquidated)."""
        if pos.amount == 0:
            return ZERO
        q = abs(pos.amount)
        s = Decimal(1) if pos.amount > 0 else Decimal(-1)
        rate = mmr.get(pos.symbol, Decimal("0.005"))
        if self.mtype(pos.symbol) == "ISOLATED":
            wb, tmm, upnl = pos.isolated_wallet, ZERO, ZERO
        else:
            wb, tmm, upnl = self.cross_wallet(), ZERO, ZERO
            for p in self.open_positions():
                if p is pos or self.mtype(p.symbol) != "CROSSED":
                    continue
                mark = marks.get(p.symbol, p.entry_price)
                tmm += abs(p.amount) * mark * mmr.get(p.symbol, Decimal("0.005"))
                upnl += self.unrealized(p, mark)
        lp = (wb - tmm + upnl - s * q * pos.entry_price) / (q * rate - s * q)
        return max(lp, ZERO).quantize(PRICE_Q)
