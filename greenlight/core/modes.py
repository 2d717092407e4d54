"""Trading modes: which venue each ``general.mode`` may talk to, and how it is named.

``paper`` runs only against the simulator or the paper venue (simulated fills on live public
market data), ``testnet`` only against Binance testnet, ``live`` only against Binance. A
mismatch is a settings error, so no process starts with it. Plain strings in, plain strings
out: this module imports nothing of the project, so the settings model and every process can
use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["paper", "testnet", "live"]
MODES: tuple[Mode, ...] = ("paper", "testnet", "live")

# venue.name values each mode may use.
MODE_VENUES: Mapping[str, tuple[str, ...]] = {
    "paper": ("sim", "paper"),
    "testnet": ("binance_testnet",),
    "live": ("binance",),
}

# What a trader reads first in /status and in the start-up banner.
HEADLINES: Mapping[str, str] = {
    "paper": "📄 PAPER — simulated venue, no real money",
    "testnet": "🧪 TESTNET — Binance testnet, test funds only, no real money",
    "live": "🔴 LIVE — REAL MONEY on Binance",
}

VENUE_WORDS: Mapping[str, str] = {
    "sim": "the local simulator",
    "paper": "the paper venue (simulated fills on live market data)",
    "binance_testnet": "Binance testnet",
    "binance": "real Binance (REAL MONEY)",
}

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def mode_mismatch(mode: str, venue: str) -> str | None:
    """Why ``general.mode = mode`` may not run with ``venue.name = venue`` (``None``: it may).

    The message names both settings, e.g. ``general.mode = 'paper' requires venue.name =
    'sim' (got venue.name = 'binance')``.
    """
    allowed = MODE_VENUES.get(mode)
    if allowed is None:
        return f"general.mode = {mode!r} is not one of {', '.join(map(repr, MODES))}"
    if venue in allowed:
        return None
    wanted = " or ".join(f"venue.name = {v!r}" for v in allowed)
    owner = next((m for m, vs in MODE_VENUES.items() if venue in vs), None)
    what = VENUE_WORDS.get(venue, "an unknown venue")
    why = f"; venue.name = {venue!r} is {what}" + (
        f" and runs only with general.mode = {owner!r}" if owner else ""
    )
    return f"general.mode = {mode!r} requires {wanted} (got venue.name = {venue!r}){why}"


def url_mismatch(mode: str, urls: Mapping[str, str]) -> str | None:
    """Why a venue URL override does not belong to ``mode`` (``None``: all fine).

    ``urls`` maps setting keys (``venue.spot_rest_url`` …) to values; empty values are not
    overrides. In ``paper`` every override must stay on this machine (loopback), so a renamed
    URL cannot send paper orders to a real exchange; in ``testnet`` none may point at
    production Binance (``*.binance.com``).
    """
    for key, url in urls.items():
        if not url:
            continue
        host = (urlsplit(url).hostname or "").lower()
        if mode == "paper" and host not in LOOPBACK_HOSTS:
            return (
                f"general.mode = 'paper' keeps the venue on this machine: {key} = {url!r} is "
                f"not a loopback address ({', '.join(sorted(LOOPBACK_HOSTS))})"
            )
        if mode == "testnet" and (host == "binance.com" or host.endswith(".binance.com")):
            return f"general.mode = 'testnet' must not reach production Binance: {key} = {url!r}"
    return None


def mode_headline(mode: str) -> str:
    """The mode in words a trader cannot misread (``🔴 LIVE — REAL MONEY on Binance``)."""
    return HEADLINES.get(mode, f"UNKNOWN MODE {mode!r}")
