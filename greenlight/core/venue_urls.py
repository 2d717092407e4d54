"""The venue's base URLs (REST, market streams, user data; spot and USD-M), for whoever
connects to it: the engine's market-data ingest and the router's venue adapters
(``router/venues/``), plus ``greenlight up`` / ``status`` that name them.

The Binance table lives here, not in the settings (which only hold overrides,
``venue.*_url``) and not in ``router/venues`` (the engine may not import the router): the core
is the one place both adapters can read it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from greenlight.core.settings import Settings


class Endpoints(BaseModel):
    """Base URLs of the configured venue."""

    model_config = ConfigDict(frozen=True)
    rest: str
    market_ws: str
    user_ws: str
    futures_rest: str
    futures_market_ws: str
    futures_user_ws: str


_VENUE_ENDPOINTS = {
    "binance": (
        "https://api.binance.com",
        "wss://stream.binance.com:9443",
        "wss://ws-api.binance.com:443/ws-api/v3",
        "https://fapi.binance.com",
        "wss://fstream.binance.com/market",
        "wss://fstream.binance.com/private",
    ),
    "binance_testnet": (
        "https://testnet.binance.vision",
        "wss://stream.testnet.binance.vision",
        "wss://ws-api.testnet.binance.vision/ws-api/v3",
        "https://testnet.binancefuture.com",
        "wss://stream.binancefuture.com",
        "wss://stream.binancefuture.com",
    ),
}


def venue_endpoints(settings: Settings) -> Endpoints:
    """REST, market-stream and user-data WebSocket bases for ``settings.venue``."""
    v = settings.venue
    if v.name in ("sim", "paper"):
        local = settings.sim if v.name == "sim" else v.paper
        host = f"{local.host}:{local.port}"
        urls = (
            f"http://{host}",
            f"ws://{host}",
            f"ws://{host}/ws-api/v3",
            f"http://{host}",
            f"ws://{host}/market",
            f"ws://{host}/private",
        )
    else:
        urls = _VENUE_ENDPOINTS[v.name]
    rest, market, user, frest, fmarket, fuser = urls
    return Endpoints(
        rest=v.spot_rest_url or rest,
        market_ws=v.spot_ws_url or market,
        user_ws=user,
        futures_rest=v.futures_rest_url or frest,
        futures_market_ws=v.futures_ws_url or fmarket,
        futures_user_ws=fuser,
    )
