"""Venue endpoints and keys from settings and secrets."""

from __future__ import annotations

from dataclasses import replace

from greenlight.core.modes import mode_mismatch
from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET, Secret
from greenlight.core.settings import Settings
from greenlight.core.venue_urls import venue_endpoints
from router.venues.binance_spot import VenueConfig

_URLS = {
    "binance": ("https://api.binance.com", "wss://ws-api.binance.com:443/ws-api/v3"),
    "binance_testnet": (
        "https://testnet.binance.vision",
        "wss://ws-api.testnet.binance.vision/ws-api/v3",
    ),
}


class RouterConfigError(ValueError):
    """The router cannot start with these settings or secrets."""


def venue_urls(settings: Settings) -> tuple[str, str]:
    """REST and WebSocket-API base URLs for the configured venue (overrides win)."""
    venue = settings.venue
    if venue.name in ("sim", "paper"):
        local = settings.sim if venue.name == "sim" else venue.paper
        rest, ws = (
            f"http://{local.host}:{local.port}",
            f"ws://{local.host}:{local.port}/ws-api/v3",
        )
    else:
        rest, ws = _URLS[venue.name]
    return (venue.spot_rest_url or rest).rstrip("/"), venue.spot_ws_url or ws


def venue_config(settings: Settings, secrets: dict[str, Secret]) -> VenueConfig:
    """The full venue configuration; the simulator falls back to its public demo keys, and
    the paper venue always uses them (exchange keys never leave for a paper account).

    Refuses a venue that ``general.mode`` does not allow (checked again here, where keys meet
    the venue, in case the settings object was built without validation).
    """
    problem = mode_mismatch(settings.general.mode, settings.venue.name)
    if problem:
        raise RouterConfigError(problem)
    key = secrets.get("GREENLIGHT_BINANCE_API_KEY")
    secret = secrets.get("GREENLIGHT_BINANCE_API_SECRET")
    if settings.venue.name == "paper" or (
        settings.venue.name == "sim" and (key is None or secret is None)
    ):
        key, secret = Secret(SIM_DEMO_API_KEY), Secret(SIM_DEMO_API_SECRET)
    if key is None or secret is None:
        raise RouterConfigError(
            f"venue {settings.venue.name!r} needs GREENLIGHT_BINANCE_API_KEY and "
            "GREENLIGHT_BINANCE_API_SECRET (environment or 0600 secrets file)"
        )
    rest, ws = venue_urls(settings)
    return VenueConfig(
        name=settings.venue.name,
        rest_url=rest,
        ws_url=ws,
        api_key=key.value,
        api_secret=secret.value,
        recv_window_ms=settings.venue.recv_window_ms,
        timeout_s=settings.router.request_timeout_s,
    )


def futures_config(settings: Settings, secrets: dict[str, Secret]) -> VenueConfig | None:
    """The USD-M venue configuration, or ``None`` when no futures symbol is traded."""
    if not settings.market.futures_symbols:
        return None
    spot = venue_config(settings, secrets)
    ends = venue_endpoints(settings)
    return replace(
        spot,
        rest_url=ends.futures_rest.rstrip("/"),
        ws_url=ends.futures_user_ws.rstrip("/"),
        sapi_url=spot.rest_url,
    )
