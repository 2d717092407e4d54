"""Sending orders so that nothing is placed twice: record first, query on unknown outcome.

An order row is written (``NEW_PENDING``) before the request leaves. A timeout or 5xx is
an unknown outcome: we look the order up by client id every half second and adopt it as
soon as it exists; it is sent once more only if it provably does not exist once the original
request can no longer be accepted by the venue (its recvWindow has passed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from router.errors import (
    DuplicateOrderError,
    OrderNotFoundError,
    RateLimitError,
    UnknownOutcomeError,
    VenueError,
)
from router.venues.base import (
    AlgoReport,
    FuturesVenue,
    NewAlgoOrder,
    NewOco,
    NewOrder,
    NewOtoco,
    OrderListReport,
    OrderReport,
    OrderVenue,
    SpotVenue,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
EARLY_POLL_S = 0.5  # how often an unknown outcome is looked up while its window is open


class StillUnknownError(UnknownOutcomeError):
    """The outcome could not be established; the order stays NEW_PENDING for reconciliation."""


class OrderSender:
    """Places orders and order lists on a venue with the unknown-outcome protocol."""

    def __init__(self, venue: OrderVenue, settle_s: float, max_rate_wait_s: float = 3.0) -> None:
        self.venue = venue
        self.settle_s = settle_s
        self.max_rate_wait_s = max_rate_wait_s

    async def _patient(self, send: Callable[[], Awaitable[T]]) -> T:
        """Send; after a short rate-limit refusal (never executed) wait and send once more."""
        try:
            return await send()
        except RateLimitError as exc:
            if exc.http_status == 418 or exc.retry_after > self.max_rate_wait_s:
                raise  # a ban is a full stop: nothing is sent again before Retry-After
            log.warning("rate limited: retrying once in %.1fs", exc.retry_after)
            await asyncio.sleep(exc.retry_after)
        return await send()

    async def _resolve(
        self,
        send: Callable[[], Awaitable[T]],
        lookup: Callable[[], Awaitable[T]],
        what: str,
    ) -> T:
        try:
            return await self._patient(send)
        except DuplicateOrderError:
            log.warning("%s already exists on the venue: adopting it", what)
            return await self._adopt(lookup, what)
        except UnknownOutcomeError as exc:
            log.warning("%s: unknown outcome (%s); querying until %.1fs", what, exc, self.settle_s)
        found = await self._early(lookup)
        if found is not None:
            return found[0]
        try:
            return await lookup()
        except OrderNotFoundError:
            log.warning("%s provably not placed: sending once more", what)
        except VenueError as exc:
            raise StillUnknownError(f"{what}: outcome still unknown ({exc})") from exc
        try:
            return await self._patient(send)
        except DuplicateOrderError:
            return await self._adopt(lookup, what)
        except UnknownOutcomeError as exc:
            raise StillUnknownError(f"{what}: outcome unknown twice ({exc})") from exc

    async def _early(self, lookup: Callable[[], Awaitable[T]]) -> tuple[T] | None:
        """Look the order up every :data:`EARLY_POLL_S` while the original request could
        still arrive: an order that was executed is adopted at once (a filled entry gets its
        protection seconds sooner); ``None`` when the window passed without it."""
        deadline = asyncio.get_running_loop().time() + self.settle_s
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(min(EARLY_POLL_S, left))
            if asyncio.get_running_loop().time() >= deadline:
                break
            try:
                return (await lookup(),)
            except VenueError:
                continue  # not there (yet), or the venue is unwell: the window decides
        return None

    @staticmethod
    async def _adopt(lookup: Callable[[], Awaitable[T]], what: str) -> T:
        try:
            return await lookup()
        except VenueError as exc:
            raise StillUnknownError(f"{what} exists but cannot be read ({exc})") from exc

    async def place(self, order: NewOrder) -> OrderReport:
        """Place a plain order; adopt an existing one with the same client id."""

        async def lookup() -> OrderReport:
            return await self.venue.query_order(order.symbol, order.client_order_id)

        return await self._resolve(
            lambda: self.venue.place_order(order), lookup, order.client_order_id
        )

    async def place_oco(self, oco: NewOco) -> list[OrderReport]:
        """Place an OCO; return the reports of both legs (adopted ones when they exist)."""

        spot = cast(SpotVenue, self.venue)  # OCOs exist on spot only

        async def lookup() -> list[OrderReport]:
            stop = await spot.query_order(oco.symbol, oco.stop_client_id)
            tp = await spot.query_order(oco.symbol, oco.take_profit_client_id)
            return [tp, stop]

        async def send() -> list[OrderReport]:
            report: OrderListReport = await spot.place_oco(oco)
            return list(report.orders) or await lookup()

        return await self._resolve(send, lookup, oco.list_client_id)

    async def place_otoco(self, otoco: NewOtoco) -> list[OrderReport]:
        """Place an OTOCO; return the working order's and both pending legs' reports."""

        spot = cast(SpotVenue, self.venue)
        oco = otoco.protection

        async def lookup() -> list[OrderReport]:
            cids = (otoco.entry.client_order_id, oco.take_profit_client_id, oco.stop_client_id)
            return [await spot.query_order(oco.symbol, cid) for cid in cids]

        async def send() -> list[OrderReport]:
            report: OrderListReport = await spot.place_otoco(otoco)
            return list(report.orders) or await lookup()

        return await self._resolve(send, lookup, oco.list_client_id)


class FuturesSender(OrderSender):
    """The sender for USD-M: plain orders plus conditional (algo) orders."""

    def __init__(self, venue: FuturesVenue, settle_s: float, max_rate_wait_s: float = 3.0) -> None:
        super().__init__(venue, settle_s, max_rate_wait_s)
        self.futures = venue

    async def place_algo(self, algo: NewAlgoOrder) -> AlgoReport:
        """Place a conditional order; adopt an existing one with the same ``clientAlgoId``."""

        async def lookup() -> AlgoReport:
            return await self.futures.query_algo(algo.symbol, algo.client_algo_id)

        return await self._resolve(
            lambda: self.futures.place_algo(algo), lookup, algo.client_algo_id
        )
