from __future__ import annotations

import pytest

from router.errors import (
    AuthError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitError,
    RejectedError,
    TemporaryError,
    TimestampError,
    UnknownOutcomeError,
    classify,
)


@pytest.mark.parametrize(
    ("status", "code", "msg", "kind"),
    [
        (
            400,
            -2010,
            "Account has insufficient balance for requested action.",
            InsufficientFundsError,
        ),
        (400, -2010, "Duplicate order sent.", DuplicateOrderError),
        (400, -2010, "Order would trigger immediately.", InvalidOrderError),
        (400, -1013, "Filter failure: NOTIONAL", InvalidOrderError),
        (400, -1111, "Parameter 'quantity' has too much precision.", InvalidOrderError),
        (400, -2013, "Order does not exist.", OrderNotFoundError),
        (400, -2011, "Unknown order sent.", OrderNotFoundError),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", TimestampError),
        (400, -1022, "Signature for this request is not valid.", AuthError),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", AuthError),
        (401, -2014, "API-key format invalid.", AuthError),
        (503, None, "Service Unavailable", UnknownOutcomeError),
        (
            500,
            -1000,
            "An unknown error occurred while processing the request.",
            UnknownOutcomeError,
        ),
        (400, -1007, "Timeout waiting for response from backend server.", UnknownOutcomeError),
        (429, -1003, "Too much request weight used", RateLimitError),
        (418, -1003, "Way too much request weight used; IP banned", RateLimitError),
        (403, None, "", TemporaryError),
        (400, -2011, "Order was not canceled due to cancel restrictions.", RejectedError),
    ],
)
def test_classify_maps_binance_errors(status: int, code: int | None, msg: str, kind: type) -> None:
    err = classify(status, code, msg, retry_after=7)
    assert type(err) is kind
    assert err.code == code and err.http_status == status


def test_rate_limit_keeps_retry_after_and_is_temporary() -> None:
    err = classify(429, -1003, "Too much request weight used", retry_after=12.0)
    assert isinstance(err, RateLimitError) and isinstance(err, TemporaryError)
    assert err.retry_after == 12.0


def test_unknown_outcome_is_not_a_rejection() -> None:
    err = classify(504, None, "")
    assert not isinstance(err, RejectedError | TemporaryError)
    assert "UnknownOutcomeError" in err.describe()
