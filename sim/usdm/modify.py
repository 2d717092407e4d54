"""``PUT /fapi/v1/order``: modify the price and quantity of an open LIMIT order.

Checks, in order: the order exists and is open (``-2013``), is a LIMIT (``-1116``), the
``side`` matches (``-1102``), price and quantity differ from the current ones (``-5027`` "No
need to modify the order."), the new quantity passes LOT_SIZE and exceeds what is already
executed (``-4003``-family checks, ``-1102``), the new price passes PRICE_FILTER /
PERCENT_PRICE, a GTX order would not take (``-5022``). Then the order keeps its id, an
``ORDER_TRADE_UPDATE`` with ``x = AMENDMENT`` is sent, and a price that is now marketable
fills at once (taker, at the last price). Margin is not re-checked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from sim.errors import SimError, mandatory
from sim.http_util import Params, p_decimal, p_int
from sim.usdm.matching import FuturesBook, _marketable, _snap
from sim.usdm.models import FutOutcome, OrderUpdate
from sim.usdm.payloads import order_json
from sim.usdm.rest import fsymbol
from sim.usdm.rest_trade import fsigned
from sim.usdm.rules import check_price, check_qty
from sim.usdm.state import FutState

MODIFY_PARAMS = frozenset(
    {"symbol", "orderId", "origClientOrderId", "side", "quantity", "price", "priceMatch"}
)


def modify(
    book: FuturesBook,
    key: str,
    ref: tuple[str, int | None, str | None],
    side: str,
    qty: Decimal,
    price: Decimal,
    now: int,
) -> FutOutcome:
    """Amend an open LIMIT order of ``key`` (``ref`` = symbol, order id, client id)."""
    symbol, oid, cid = ref
    order = book.find(key, symbol, oid, cid)
    if order is None or not order.is_open:
        raise SimError(-2013, "Order does not exist.")
    if order.type != "LIMIT":
        raise SimError(-1116, "Invalid orderType.")
    if side != order.side:
        raise SimError(-1102, "Param 'side' must be the side of the order being modified.")
    if qty == order.quantity and price == order.price:
        raise SimError(-5027, "No need to modify the order.")
    r = book.rule(symbol)
    check_qty(r, qty, False)
    if qty <= order.executed_qty:
        raise SimError(-1102, "Param 'quantity' must exceed the order's executed quantity.")
    check_price(r, price, book.mark(symbol))
    last = book.last[symbol]
    if order.time_in_force == "GTX" and _marketable(side, price, last):
        raise SimError(
            -5022,
            "Due to the order could not be executed as maker, the Post Only order will be "
            "rejected.",
        )
    order.quantity, order.price, order.update_time = qty, price, now
    out = FutOutcome(orders=[order])
    out.events.append(OrderUpdate(key, _snap(order), "AMENDMENT", now))
    if _marketable(side, price, last):
        book.fill(book.accounts[key], order, last, False, now, out)
    return out


@fsigned(MODIFY_PARAMS)
async def modify_order(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``PUT /fapi/v1/order`` (LIMIT orders; ``priceMatch`` is not simulated)."""
    symbol = fsymbol(fut, params)
    oid, cid = p_int(params, "orderId"), params.get("origClientOrderId") or None
    if oid is None and cid is None:
        raise SimError(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    if params.get("priceMatch"):
        raise SimError(-1106, "Parameter 'priceMatch' sent when not required.")
    side = params.get("side", "")
    if side not in ("BUY", "SELL"):
        raise mandatory("side") if not side else SimError(-1117, "Invalid side.")
    qty, price = p_decimal(params, "quantity"), p_decimal(params, "price")
    if qty is None:
        raise mandatory("quantity")
    if price is None:
        raise mandatory("price")
    out = modify(fut.book, key, (symbol, oid, cid), side, qty, price, fut.replay.now_ms)
    fut.publish(out.events)
    return order_json(out.orders[0])


def add_routes(app: web.Application) -> None:
    """Register the modify endpoint."""
    app.router.add_put("/fapi/v1/order", modify_order)
