"""Simulator configuration: settings mapping and rejection of impossible values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
from greenlight.core.settings import MarketSettings, Settings, SimSettings
from sim.server import SimConfig, SimOverrides, sim_config_from_settings

FILE = Path("data/BTCUSDT-15m-2019-2020.csv.gz")


def test_config_from_default_settings() -> None:
    settings = Settings(sim=SimSettings(start_balance_usdt=Decimal("2500"), port=0))
    cfg = sim_config_from_settings(settings, SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET)
    assert list(cfg.files) == ["BTCUSDT"] and cfg.files["BTCUSDT"].is_absolute()
    assert cfg.files["BTCUSDT"].exists() and cfg.tf == "15m"
    account = cfg.accounts[SIM_DEMO_API_KEY]
    assert account.secret == SIM_DEMO_API_SECRET and account.balances == {"USDT": Decimal("2500")}
    assert (cfg.history_candles, cfg.candles_per_second, cfg.updates_per_candle) == (600, 2.0, 2)


def test_config_wires_the_futures_files_and_balance() -> None:
    settings = Settings(
        sim=SimSettings(futures_start_balance_usdt=Decimal("750")),
        market=MarketSettings(futures_symbols=("XRPUSDT",)),
    )
    cfg = sim_config_from_settings(settings, "k", "s")
    assert list(cfg.futures_files) == list(cfg.mark_files) == list(cfg.funding_files) == ["XRPUSDT"]
    assert cfg.futures_files["XRPUSDT"].name == "XRPUSDT-perp-5m-futures.csv"
    assert all(p.is_absolute() and p.exists() for p in cfg.funding_files.values())
    assert cfg.accounts["k"].futures_usdt == Decimal("750")


def test_overrides_replace_files_and_can_drop_futures() -> None:
    cfg = sim_config_from_settings(Settings(), "k", "s")
    spot_only = SimOverrides(markets="spot").apply(cfg)
    assert spot_only.futures_files == {} and spot_only.files == cfg.files
    other = SimOverrides(spot_files=[f"ETHUSDT={FILE}"]).apply(cfg)
    assert other.files == {"ETHUSDT": FILE} and other.futures_files == cfg.futures_files
    with pytest.raises(ValueError, match="SYMBOL=PATH"):
        SimOverrides(futures_files=["no-equals-sign"]).apply(cfg)
    with pytest.raises(ValueError, match="no such file"):
        SimOverrides(futures_files=["XRPUSDT=data/missing.csv"]).apply(cfg)
    with pytest.raises(ValueError, match="markets"):
        SimOverrides(markets="futures").apply(cfg)


def test_config_follows_market_timeframe() -> None:
    settings = Settings(market=MarketSettings(timeframe="1h"))
    assert sim_config_from_settings(settings, "k", "s").tf == "1h"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tf": "7m"}, "tf"),
        ({"files": {}}, "files"),
        ({"host": "0.0.0.0"}, "loopback"),
        ({"candles_per_second": 0.0}, "candles_per_second"),
        ({"max_candles": 0}, "max_candles"),
        ({"commission": Decimal("1.5")}, "commission"),
        ({"mark_files": {"XRPUSDT": FILE}}, "mark_files"),
        ({"listen_key_ttl": 0.0}, "listen_key_ttl"),
        ({"futures_leverage": 0}, "futures_leverage"),
    ],
)
def test_bad_config_is_rejected(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"files": {"BTCUSDT": FILE}}
    with pytest.raises(ValueError, match=message):
        SimConfig(**(base | kwargs))  # type: ignore[arg-type]


def test_sub_timeframe_setting_becomes_sub_intervals() -> None:
    five = Settings(market=MarketSettings(sub_timeframe="5m"))
    assert sim_config_from_settings(five, "k", "s").sub_intervals == ("5m",)
    none = Settings(market=MarketSettings(sub_timeframe=""))
    assert sim_config_from_settings(none, "k", "s").sub_intervals == ()
    with pytest.raises(ValueError, match="sub_intervals"):
        SimConfig(files={"BTCUSDT": FILE}, sub_intervals=("7m",))
