"""Funding settlement and liquidation of USD-M positions (pure)."""

from __future__ import annotations

from decimal import Decimal

from sim.usdm.matching import FuturesBook, _snap
from sim.usdm.models import FutOrder, FutOutcome, OrderUpdate

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")


def settle_funding(
    book: FuturesBook, symbol: str, rate: Decimal, mark: Decimal, now: int
) -> FutOutcome:
    """Pay funding on every open position of ``symbol``: ``fee = -amount × mark × rate``
    (positive rate: longs pay shorts). One ``ACCOUNT_UPDATE`` (``FUNDING_FEE``) per account."""
    out = FutOutcome()
    for acct in book.accounts.values():
        change = ZERO
        for pos in acct.open_positions():
            if pos.symbol != symbol:
                continue
            fee = (-pos.amount * mark * rate).quantize(Q8)
            change += fee
            if acct.mtype(symbol) == "ISOLATED":
                pos.isolated_wallet += fee
            acct.wallet += fee
            pos.update_time = now
        if change != 0:
            acct.update_time = now
            out.events.append(book.account_update(acct, "FUNDING_FEE", now, change, symbol))
    return out


def liquidate(book: FuturesBook, symbol: str, now: int) -> FutOutcome:
    """Close, at the mark price, every position of ``symbol`` whose liquidation price the
    mark price has reached (order ``autoclose-<now>``, original type ``LIQUIDATION``)."""
    out = FutOutcome()
    mark = book.mark(symbol)
    for acct in book.accounts.values():
        for pos in acct.open_positions():
            if pos.symbol != symbol:
                continue
            lp = acct.liquidation_price(pos, book.marks, book.mmr)
            if lp <= 0 or (mark > lp if pos.amount > 0 else mark < lp):
                continue
            oid = book._next_order
            book._next_order += 1
            order = FutOrder(
                account=acct.key,
                order_id=oid,
                client_order_id=f"autoclose-{now}",
                symbol=symbol,
                side="SELL" if pos.amount > 0 else "BUY",
                type="LIQUIDATION",
                orig_type="LIQUIDATION",
                quantity=abs(pos.amount),
                price=mark,
                time_in_force="IOC",
                reduce_only=True,
                position_side=pos.side,
                time=now,
                update_time=now,
            )
            book.orders[oid] = order
            out.events.append(OrderUpdate(acct.key, _snap(order), "NEW", now))
            book.fill(acct, order, mark, False, now, out)
    return out
