from __future__ import annotations

import os
from pathlib import Path

import pytest

from greenlight.core.secrets import SecretsError, load_secrets
from greenlight.core.settings import SettingsError, load_settings
from greenlight.core.venue_urls import venue_endpoints

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_repository_defaults_run_offline() -> None:
    s = load_settings(REPO / "settings.toml", env={})
    assert s.venue.name == "sim" and s.database.url == "" and s.bot.channels == ("console",)
    assert s.market.symbols == ("BTCUSDT",) and s.market.timeframe == "15m"
    assert venue_endpoints(s).rest == "http://127.0.0.1:8765"


def test_unknown_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"risk\.risk_per_trad: unknown key"):
        load_settings(write(tmp_path, "[risk]\nrisk_per_trad = 0.01\n"), env={})


def test_wrong_type_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"router\.port: .*integer"):
        load_settings(write(tmp_path, '[router]\nport = "eighty"\n'), env={})


def test_impossible_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"market\.timeframe: .*'7m' is not one of"):
        load_settings(write(tmp_path, '[market]\ntimeframe = "7m"\n'), env={})
    with pytest.raises(SettingsError, match=r"risk\.risk_per_trade"):
        load_settings(write(tmp_path, "[risk]\nrisk_per_trade = 0.5\n"), env={})
    with pytest.raises(SettingsError, match="ema_fast < ema_mid < ema_slow"):
        load_settings(write(tmp_path, "[strategy]\nema_fast = 60\n"), env={})
    with pytest.raises(SettingsError, match=r"router\.host"):
        load_settings(write(tmp_path, '[router]\nhost = "0.0.0.0"\n'), env={})


def test_secret_in_settings_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"'telegram\.bot_token' looks like a secret"):
        load_settings(write(tmp_path, '[telegram]\nbot_token = "123:abc"\n'), env={})


def test_environment_overrides_and_unknown_variables(tmp_path: Path) -> None:
    f = write(tmp_path, "")
    s = load_settings(
        f,
        env={
            "GREENLIGHT_DATABASE_URL": "postgresql://x/y",
            "GREENLIGHT_MARKET_SYMBOLS": '["BTCUSDT", "ETHUSDT"]',
            "GREENLIGHT_ROUTER_PORT": "9000",
        },
    )
    assert s.database.url == "postgresql://x/y" and s.router.port == 9000
    assert s.market.symbols == ("BTCUSDT", "ETHUSDT")
    with pytest.raises(SettingsError, match="GREENLIGHT_ROUTER_PROT is not a known setting"):
        load_settings(f, env={"GREENLIGHT_ROUTER_PROT": "1"})
    with pytest.raises(SettingsError, match=r"market\.symbols"):
        load_settings(f, env={"GREENLIGHT_MARKET_SYMBOLS": '["btc-usdt"]'})


def test_settings_are_frozen() -> None:
    s = load_settings(REPO / "settings.toml", env={})
    with pytest.raises(Exception, match="frozen"):
        s.router.port = 1  # type: ignore[misc]


def test_secrets_file_must_be_private(tmp_path: Path) -> None:
    f = tmp_path / "secrets.env"
    f.write_text("GREENLIGHT_TELEGRAM_TOKEN=123:abc\n")
    os.chmod(f, 0o644)
    with pytest.raises(SecretsError, match="must be 0600"):
        load_secrets({"GREENLIGHT_SECRETS_FILE": str(f)})
    os.chmod(f, 0o600)
    got = load_secrets({"GREENLIGHT_SECRETS_FILE": str(f)})
    assert got["GREENLIGHT_TELEGRAM_TOKEN"].value == "123:abc"
    assert "abc" not in repr(got)
    f.write_text("TELEGRAM=1\n")
    with pytest.raises(SecretsError, match=r"secrets.env:1: expected one of"):
        load_secrets({"GREENLIGHT_SECRETS_FILE": str(f)})
