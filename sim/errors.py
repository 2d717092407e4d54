"""Binance-style errors raised by the simulator (code, message, HTTP status)."""

from __future__ import annotations


class SimError(Exception):
    """An error answered to the client as ``{"code": code, "msg": msg}`` with ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


class OrderRejected(SimError):
    """The matching engine refused an order (nothing changed)."""


def filter_failure(name: str) -> OrderRejected:
    """``-1013 Filter failure: NAME``."""
    return OrderRejected(-1013, f"Filter failure: {name}")


def new_order_rejected(msg: str) -> OrderRejected:
    """``-2010`` with the engine message."""
    return OrderRejected(-2010, msg)


def mandatory(name: str) -> SimError:
    """``-1102`` for a missing or empty mandatory parameter."""
    return SimError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_chars(name: str) -> SimError:
    """``-1100`` for a parameter that is not a valid decimal number."""
    return SimError(
        -1100,
        f"Illegal characters found in parameter '{name}'; "
        "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    )


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
DUPLICATE_ORDER = "Duplicate order sent."
WOULD_TRIGGER = "Order would trigger immediately."
WOULD_TAKE = "Order would immediately match and take."
BAD_OCO_PRICES = "The relationship of the prices for the orders is not correct."
UNKNOWN_ORDER_CANCEL = "Unknown order sent."
NO_SUCH_ORDER = "Order does not exist."
