"""Binance answers that are business refusals, not venue trouble.

A refusal for a reason of the account or the order (insufficient balance, a filter failure,
a trigger the market already passed, a reduce-only order with nothing to reduce) is the
venue working normally: the kill switch must never read a burst of them as an outage.
Only this adapter knows Binance's codes; the rest of the router reads
``VenueError.business_refusal`` and the error types of :mod:`router.errors`.
"""

from __future__ import annotations

from router.errors import (
    InvalidOrderError,
    OrderCountError,
    PriceCrossedError,
    RejectedError,
    VenueError,
)

# -1013 filter failure, -2010 new order rejected (insufficient balance, would match, ...),
# -2011 cancel rejected, -2013 no such order.
SPOT_BUSINESS_CODES = frozenset({-1013, -2010, -2011, -2013})
# USD-M adds: -2018/-2019 balance/margin insufficient, -2020 unable to fill, -2021 would
# trigger, -2022/-2024/-4118 reduce-only refusals, -4131 counterparty price, -4164 minimum
# notional, -5021/-5022 FOK/post-only not executable, -4046/-4059 setting already applied.
FUTURES_BUSINESS_CODES = SPOT_BUSINESS_CODES | frozenset(
    {-2018, -2019, -2020, -2021, -2022, -2024, -4118, -4131, -4164, -5021, -5022, -4046, -4059}
)
ORDER_COUNT_FILTERS = ("MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS")  # EXCHANGE_* contain them
# Spot's words for an order list whose price the market already passed ("Order would trigger
# immediately.", "Order would immediately match and take.", "The relationship of the prices
# for the orders is not correct.").
PRICE_ALREADY_CROSSED = ("immediately", "relationship of the prices")


def refine(
    err: VenueError,
    code: int | None,
    msg: str,
    business: frozenset[int],
    crossed: tuple[str, ...] = (),
) -> VenueError:
    """Mark ``err`` as a business refusal when its ``code`` is one of ``business``; turn an
    order-count filter failure into :class:`OrderCountError` and a refusal whose message has
    one of the ``crossed`` phrases into :class:`PriceCrossedError`."""
    if code == -1013 and any(name in msg for name in ORDER_COUNT_FILTERS):
        err = OrderCountError(msg, code, err.http_status)
    elif type(err) in (RejectedError, InvalidOrderError) and any(
        phrase in msg.lower() for phrase in crossed
    ):
        err = PriceCrossedError(msg, code, err.http_status)
    err.business_refusal = isinstance(err, RejectedError) and code in business
    return err
