from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from greenlight.core.modes import MODE_VENUES
from greenlight.core.secrets import SIM_DEMO_API_KEY, Secret
from greenlight.core.settings import (
    GeneralSettings,
    GuardSettings,
    Settings,
    SettingsError,
    SimSettings,
    VenueSettings,
    load_settings,
)
from router.config import RouterConfigError, venue_config, venue_urls
from router.service import run_router


def on(venue: VenueSettings, **sections: object) -> Settings:
    """Settings for ``venue`` in the one mode that allows it."""
    mode = next(m for m, names in MODE_VENUES.items() if venue.name in names)
    return Settings.model_validate(
        {"general": GeneralSettings(mode=mode), "venue": venue, **sections}
    )


@pytest.mark.parametrize(
    ("name", "rest", "ws"),
    [
        ("sim", "http://127.0.0.1:9999", "ws://127.0.0.1:9999/ws-api/v3"),
        ("binance", "https://api.binance.com", "wss://ws-api.binance.com:443/ws-api/v3"),
        (
            "binance_testnet",
            "https://testnet.binance.vision",
            "wss://ws-api.testnet.binance.vision/ws-api/v3",
        ),
    ],
)
def test_venue_urls_per_venue(name: str, rest: str, ws: str) -> None:
    settings = on(VenueSettings(name=name), sim=SimSettings(port=9999))
    assert venue_urls(settings) == (rest, ws)


def test_overrides_win() -> None:
    venue = VenueSettings(name="binance", spot_rest_url="http://127.0.0.1:1/", spot_ws_url="ws://x")
    assert venue_urls(on(venue)) == ("http://127.0.0.1:1", "ws://x")


def test_sim_defaults_to_demo_keys_and_real_venues_require_keys() -> None:
    cfg = venue_config(Settings(), {})
    assert cfg.api_key == SIM_DEMO_API_KEY and "key=***" in repr(cfg)
    assert cfg.api_secret not in repr(cfg)
    with pytest.raises(RouterConfigError, match="GREENLIGHT_BINANCE_API_KEY"):
        venue_config(on(VenueSettings(name="binance")), {})
    keys = {"GREENLIGHT_BINANCE_API_KEY": Secret("k"), "GREENLIGHT_BINANCE_API_SECRET": Secret("s")}
    live = venue_config(on(VenueSettings(name="binance", recv_window_ms=3000)), keys)
    assert (live.api_key, live.api_secret, live.recv_window_ms) == ("k", "s", 3000)


def test_run_router_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENLIGHT_ROUTER_TOKEN", raising=False)
    monkeypatch.delenv("GREENLIGHT_SECRETS_FILE", raising=False)
    assert run_router(Settings()) == 2


def test_guard_thresholds_load_from_the_settings_file(tmp_path: Path) -> None:
    file = tmp_path / "settings.toml"
    file.write_text(
        "[guards]\nerror_burst = 7\nerror_window_s = 20\nuser_stream_down_s = 12\n"
        'daily_drawdown_limit = "0.03"\nstale_timeframes = 4\n'
    )
    g = load_settings(file, env={}).guards
    assert (g.error_burst, g.error_window_s, g.user_stream_down_s) == (7, 20.0, 12.0)
    assert (g.daily_drawdown_limit, g.stale_timeframes) == (Decimal("0.03"), 4)
    assert load_settings(env={}).guards == GuardSettings()  # the shipped file: the defaults


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("error_burst = 0", "guards.error_burst"),
        ('daily_drawdown_limit = "1.5"', "guards.daily_drawdown_limit"),
        ("stream_down = 3", "guards.stream_down"),
    ],
)
def test_bad_guard_values_are_refused_by_name(tmp_path: Path, line: str, key: str) -> None:
    file = tmp_path / "settings.toml"
    file.write_text(f"[guards]\n{line}\n")
    with pytest.raises(SettingsError, match=key):
        load_settings(file, env={})
