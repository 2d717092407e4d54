from __future__ import annotations

import pytest

from engine.secrets import SIM_DEMO_API_KEY, Secret
from engine.settings import Settings, SimSettings, VenueSettings
from router.config import RouterConfigError, venue_config, venue_urls
from router.service import run_router


@pytest.mark.parametrize(
    ("name", "rest", "ws"),
    [
        ("sim", "http://127.0.0.1:9999", "ws://127.0.0.1:9999/ws-api/v3"),
        ("binance", "https://api.binance.com", "wss://ws-api.binance.com:443/ws-api/v3"),
        ("binance_testnet", "https://testnet.binance.vision",
         "wss://ws-api.testnet.binance.vision/ws-api/v3"),
    ],
)  # fmt: skip
def test_venue_urls_per_venue(name: str, rest: str, ws: str) -> None:
    settings = Settings(venue=VenueSettings(name=name), sim=SimSettings(port=9999))
    assert venue_urls(settings) == (rest, ws)


def test_overrides_win() -> None:
    venue = VenueSettings(name="binance", spot_rest_url="http://127.0.0.1:1/", spot_ws_url="ws://x")
    assert venue_urls(Settings(venue=venue)) == ("http://127.0.0.1:1", "ws://x")


def test_sim_defaults_to_demo_keys_and_real_venues_require_keys() -> None:
    cfg = venue_config(Settings(), {})
    assert cfg.api_key == SIM_DEMO_API_KEY and "key=***" in repr(cfg)
    assert cfg.api_secret not in repr(cfg)
    with pytest.raises(RouterConfigError, match="GREENLIGHT_BINANCE_API_KEY"):
        venue_config(Settings(venue=VenueSettings(name="binance")), {})
    keys = {"GREENLIGHT_BINANCE_API_KEY": Secret("k"), "GREENLIGHT_BINANCE_API_SECRET": Secret("s")}
    live = venue_config(Settings(venue=VenueSettings(name="binance", recv_window_ms=3000)), keys)
    assert (live.api_key, live.api_secret, live.recv_window_ms) == ("k", "s", 3000)


def test_run_router_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENLIGHT_ROUTER_TOKEN", raising=False)
    monkeypatch.delenv("GREENLIGHT_SECRETS_FILE", raising=False)
    assert run_router(Settings()) == 2
