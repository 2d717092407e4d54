"""What a market's steps work with: the router's shared context, the market's venue and its
order sender. One desk per market, made by the market implementation."""

from __future__ import annotations

from dataclasses import dataclass

from greenlight.core.contracts import Market as MarketName
from router.core import Core
from router.equity import AccountKeys
from router.sender import FuturesSender, OrderSender
from router.venues.base import FuturesVenue, SpotVenue

SPOT = MarketName.SPOT.value
USDM = MarketName.USDM.value
SPOT_ACCOUNT = AccountKeys(SPOT, "equity_quote", "account_spot")
USDM_ACCOUNT = AccountKeys(USDM, "equity_quote_usdm", "account_usdm")
ACCOUNTS = (SPOT_ACCOUNT, USDM_ACCOUNT)  # where each market publishes its account
TITLES = {SPOT: "spot", USDM: "USD-M"}  # how alerts name each market's links


@dataclass(frozen=True)
class SpotDesk:
    """The spot market's context."""

    core: Core
    venue: SpotVenue
    sender: OrderSender
    name: str = SPOT


@dataclass(frozen=True)
class UsdmDesk:
    """The USD-M market's context (``margin_type`` applied before every entry)."""

    core: Core
    venue: FuturesVenue
    sender: FuturesSender
    margin_type: str = "ISOLATED"
    name: str = USDM
