"""Which Binance answers are business refusals (never an outage for the kill switch)."""

from __future__ import annotations

import pytest

from router.errors import (
    InsufficientFundsError,
    InvalidOrderError,
    OrderCountError,
    PriceCrossedError,
    VenueError,
    WouldTriggerError,
    classify,
    classify_futures,
)
from router.venues.binance_refusals import (
    FUTURES_BUSINESS_CODES,
    PRICE_ALREADY_CROSSED,
    SPOT_BUSINESS_CODES,
    refine,
)


def spot(status: int, code: int | None, msg: str) -> VenueError:
    return refine(classify(status, code, msg), code, msg, SPOT_BUSINESS_CODES)


def usdm(status: int, code: int | None, msg: str) -> VenueError:
    return refine(classify_futures(status, code, msg), code, msg, FUTURES_BUSINESS_CODES)


@pytest.mark.parametrize(
    ("status", "code", "msg", "kind"),
    [
        (
            400,
            -2010,
            "Account has insufficient balance for requested action.",
            InsufficientFundsError,
        ),
        (400, -1013, "Filter failure: NOTIONAL", InvalidOrderError),
        (400, -1013, "Filter failure: MAX_NUM_ALGO_ORDERS", OrderCountError),
        (400, -1013, "Filter failure: MAX_NUM_ORDERS", OrderCountError),
        (400, -1013, "Filter failure: EXCHANGE_MAX_NUM_ALGO_ORDERS", OrderCountError),
        (400, -2010, "Order would immediately match and take.", InvalidOrderError),
    ],
)
def test_spot_business_refusals(status: int, code: int, msg: str, kind: type) -> None:
    err = spot(status, code, msg)
    assert type(err) is kind and err.business_refusal and err.code == code


@pytest.mark.parametrize(
    ("status", "code", "msg"),
    [
        (503, None, "Service Unavailable"),
        (500, -1000, "An unknown error occurred while processing the request."),
        (429, -1003, "Too much request weight used"),
        (400, -1021, "Timestamp for this request is outside of the recvWindow."),
        (401, -2015, "Invalid API-key, IP, or permissions for action."),
        (400, -1102, "Mandatory parameter 'quantity' was not sent."),  # our bug: counts
    ],
)
def test_trouble_is_not_a_business_refusal(status: int, code: int | None, msg: str) -> None:
    assert not spot(status, code, msg).business_refusal
    assert not usdm(status, code, msg).business_refusal


def test_usdm_margin_and_trigger_refusals() -> None:
    assert usdm(400, -2019, "Margin is insufficient.").business_refusal
    assert usdm(400, -2021, "Order would immediately trigger.").business_refusal
    assert not spot(400, -2019, "Margin is insufficient.").business_refusal


@pytest.mark.parametrize(
    "msg",
    [
        "Order would trigger immediately.",
        "Order would immediately match and take.",
        "The relationship of the prices for the orders is not correct.",
    ],
)
def test_spot_adapter_types_a_price_the_market_already_passed(msg: str) -> None:
    err = refine(classify(400, -2010, msg), -2010, msg, SPOT_BUSINESS_CODES, PRICE_ALREADY_CROSSED)
    assert type(err) is PriceCrossedError and err.business_refusal


def test_usdm_would_trigger_is_a_price_crossed_refusal_by_code() -> None:
    err = usdm(400, -2021, "Order would immediately trigger.")
    assert isinstance(err, WouldTriggerError) and isinstance(err, PriceCrossedError)
