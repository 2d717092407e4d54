"""Typed venue errors: what went wrong decides whether a retry, a query or a stop is right.

``TemporaryError``: the request was provably not executed; a later retry is safe.
``UnknownOutcomeError``: the request may or may not have been executed (timeout, 5xx);
the order must be queried, never blindly re-sent.
``RejectedError`` and subclasses: the venue answered with a definitive refusal.
``AuthError``: keys, signature or permissions are wrong; nothing works until fixed.
"""

from __future__ import annotations


class VenueError(Exception):
    """Base for everything a venue adapter raises.

    ``business_refusal`` is set by the venue adapter when a healthy venue said no for a
    reason of the account or the order (insufficient balance, a filter, a trigger already
    passed): a normal answer, never evidence of an outage.
    """

    def __init__(self, message: str, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.business_refusal = False

    def describe(self) -> str:
        """A one-line description with the venue code when there is one."""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{type(self).__name__}: {self}{code}"


class TemporaryError(VenueError):
    """Not executed; retrying later is safe (connect failure, rate limit)."""


class RateLimitError(TemporaryError):
    """HTTP 429/418: back off for ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float, code: int | None, http_status: int):
        super().__init__(message, code, http_status)
        self.retry_after = retry_after


class UnknownOutcomeError(VenueError):
    """Timeout or 5xx: the request may have been executed; query before doing anything."""


class AuthError(VenueError):
    """Bad API key, signature or permissions (-1022, -2014, -2015, HTTP 401)."""


class RejectedError(VenueError):
    """A definitive refusal from the venue; the request had no effect."""


class InvalidOrderError(RejectedError):
    """The order breaks a filter or a rule (-1013, -2010, -11xx)."""


class OrderCountError(InvalidOrderError):
    """Too many orders resting on the symbol (MAX_NUM_ORDERS / MAX_NUM_ALGO_ORDERS)."""


class InsufficientFundsError(RejectedError):
    """The account cannot pay for the order."""


class DuplicateOrderError(RejectedError):
    """An open order with this client id already exists on the venue."""


class OrderNotFoundError(RejectedError):
    """The venue does not know this order (-2013, -2011 'Unknown order sent.')."""


class TimestampError(RejectedError):
    """The request's timestamp fell outside recvWindow (-1021)."""


class VenueDataError(VenueError):
    """The venue answered with JSON we cannot decode into the expected structure."""


_AUTH_CODES = {-1022, -2014, -2015}
_INVALID_CODES = {-1013, -1100, -1101, -1102, -1103, -1106, -1111, -1114, -1115, -1116, -1117}


def classify(http_status: int, code: int | None, msg: str, retry_after: float = 0.0) -> VenueError:
    """Map an HTTP status and Binance error envelope to the right exception."""
    if http_status in (429, 418) or code in (-1003, -1015):
        return RateLimitError(msg, retry_after or 60.0, code, http_status)
    if http_status >= 500 or code in (-1000, -1006, -1007):
        return UnknownOutcomeError(msg or f"HTTP {http_status}", code, http_status)
    if http_status == 401 or code in _AUTH_CODES:
        return AuthError(msg, code, http_status)
    if code == -1021:
        return TimestampError(msg, code, http_status)
    if code == -2013 or (code == -2011 and "unknown order" in msg.lower()):
        return OrderNotFoundError(msg, code, http_status)
    lowered = msg.lower()
    if code == -2010 and "insufficient balance" in lowered:
        return InsufficientFundsError(msg, code, http_status)
    if code == -2010 and "duplicate order" in lowered:
        return DuplicateOrderError(msg, code, http_status)
    if code in _INVALID_CODES or code == -2010 or (code is not None and -1199 <= code <= -1100):
        return InvalidOrderError(msg, code, http_status)
    if http_status == 403:
        return TemporaryError(msg or "HTTP 403 (WAF)", code, http_status)
    return RejectedError(msg or f"HTTP {http_status}", code, http_status)


class PriceCrossedError(InvalidOrderError):
    """The market already passed the order's price or trigger: it cannot rest (a spot OCO
    whose stop would trigger or whose take-profit would take at once)."""


class WouldTriggerError(PriceCrossedError):
    """A conditional order's trigger is already satisfied (-2021): the market passed it."""


class ReduceOnlyRejectedError(RejectedError):
    """A reduce-only order would not reduce the position (-2022): nothing left to close."""


class NoChangeNeeded(RejectedError):
    """The account setting already has the requested value (-4046, -4059)."""


class PositionModeError(AuthError):
    """The futures account is in hedge mode (-4061); the router only runs one-way mode."""


# Answers a caller takes as an outcome, not as trouble: the order is gone (filled, expired
# or never placed), it already exists, the setting already has the value. They are counted
# but neither logged as errors nor held against the venue by the kill switch.
EXPECTED_ANSWERS: tuple[type[VenueError], ...] = (
    OrderNotFoundError,
    DuplicateOrderError,
    NoChangeNeeded,
)


_FUTURES_INVALID = {
    -1111,
    -4003,
    -4004,
    -4005,
    -4013,
    -4002,
    -4014,
    -4023,
    -4016,
    -4024,
    -4015,
    -4028,
    -4062,
    -4120,
    -4131,
    -4137,
    -4138,
    -4164,
    -5021,
    -5022,
    -5040,
    -2020,
    -2025,
    -2027,
}


def classify_futures(
    http_status: int, code: int | None, msg: str, retry_after: float = 0.0
) -> VenueError:
    """Map a USD-M error to the right exception; spot rules apply to the shared codes."""
    if http_status in (429, 418) or http_status >= 500:
        return classify(http_status, code, msg, retry_after)
    if code == -5028:
        return TimestampError(msg, code, http_status)
    if code in (-2018, -2019):
        return InsufficientFundsError(msg, code, http_status)
    if code == -2021:
        return WouldTriggerError(msg, code, http_status)
    if code in (-2022, -2024, -4118):
        return ReduceOnlyRejectedError(msg, code, http_status)
    if code == -4116:
        return DuplicateOrderError(msg, code, http_status)
    if code in (-4046, -4059):
        return NoChangeNeeded(msg, code, http_status)
    if code == -4061:
        return PositionModeError(msg, code, http_status)
    if code in _FUTURES_INVALID:
        return InvalidOrderError(msg, code, http_status)
    return classify(http_status, code, msg, retry_after)
