"""``general.mode`` governs the venue: every mode/venue pair, URL overrides, every command,
the router's own check, and the words a trader reads in the start-up banner."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenlight.cli import main
from greenlight.core.modes import MODES, mode_headline
from greenlight.core.secrets import Secret
from greenlight.core.settings import (
    GeneralSettings,
    Settings,
    SettingsError,
    VenueSettings,
    load_settings,
)
from greenlight.up import banner
from router.config import RouterConfigError, venue_config

VENUES = ("sim", "paper", "binance_testnet", "binance")
ALLOWED = {
    ("paper", "sim"),
    ("paper", "paper"),
    ("testnet", "binance_testnet"),
    ("live", "binance"),
}
KEYS = {"GREENLIGHT_BINANCE_API_KEY": Secret("k"), "GREENLIGHT_BINANCE_API_SECRET": Secret("s")}


def settings_file(tmp_path: Path, mode: str, venue: str, extra: str = "") -> Path:
    p = tmp_path / "settings.toml"
    p.write_text(f'[general]\nmode = "{mode}"\n\n[venue]\nname = "{venue}"\n{extra}')
    return p


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("venue", VENUES)
def test_each_mode_runs_only_against_its_venue(tmp_path: Path, mode: str, venue: str) -> None:
    file = settings_file(tmp_path, mode, venue)
    if (mode, venue) in ALLOWED:
        s = load_settings(file, env={})
        assert (s.general.mode, s.venue.name) == (mode, venue)
        return
    with pytest.raises(SettingsError) as err:
        load_settings(file, env={})
    text = str(err.value)
    assert f"general.mode = {mode!r} requires venue.name = " in text
    assert f"(got venue.name = {venue!r})" in text


def test_the_mismatch_message_names_both_settings_and_the_risk(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(settings_file(tmp_path, "paper", "binance"), env={})
    assert str(err.value).splitlines()[1].strip() == (
        "general.mode = 'paper' requires venue.name = 'sim' or venue.name = 'paper' "
        "(got venue.name = 'binance'); venue.name = 'binance' is real Binance (REAL MONEY) "
        "and runs only with general.mode = 'live'"
    )


def test_environment_overrides_are_held_to_the_same_rule(tmp_path: Path) -> None:
    file = settings_file(tmp_path, "paper", "sim")
    with pytest.raises(SettingsError, match=r"general\.mode = 'paper' requires venue\.name"):
        load_settings(file, env={"GREENLIGHT_VENUE_NAME": "binance"})
    s = load_settings(
        file, env={"GREENLIGHT_GENERAL_MODE": "live", "GREENLIGHT_VENUE_NAME": "binance"}
    )
    assert s.general.mode == "live"


def test_unknown_mode_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"general\.mode: .*'paper', 'testnet' or 'live'"):
        load_settings(settings_file(tmp_path, "demo", "sim"), env={})


def test_the_paper_venue_runs_only_in_paper_mode_and_names_its_risk(tmp_path: Path) -> None:
    for mode in ("testnet", "live"):
        with pytest.raises(SettingsError) as err:
            load_settings(settings_file(tmp_path, mode, "paper"), env={})
        assert (
            "venue.name = 'paper' is the paper venue (simulated fills on live market data) "
            "and runs only with general.mode = 'paper'"
        ) in str(err.value)
    s = load_settings(settings_file(tmp_path, "paper", "paper"), env={})
    assert s.venue.paper.market_url == "https://api.binance.com"  # public data only


def test_the_paper_venue_may_read_remote_market_data_but_serves_on_loopback(
    tmp_path: Path,
) -> None:
    extra = '[venue.paper]\nmarket_url = "https://testnet.binance.vision"\n'
    s = load_settings(settings_file(tmp_path, "paper", "paper", extra), env={})
    assert s.venue.paper.market_url == "https://testnet.binance.vision"
    with pytest.raises(SettingsError, match=r"venue\.paper\.host"):
        host = '[venue.paper]\nhost = "0.0.0.0"\n'
        load_settings(settings_file(tmp_path, "paper", "paper", host), env={})
    with pytest.raises(SettingsError, match=r"venue\.paper\.db_schema: .*'public'"):
        env = {"GREENLIGHT_VENUE_PAPER_DB_SCHEMA": "public"}
        load_settings(settings_file(tmp_path, "paper", "paper"), env=env)
    with pytest.raises(SettingsError, match=r"trades spot only: leave market\.futures_symbols"):
        env = {"GREENLIGHT_MARKET_FUTURES_SYMBOLS": '["XRPUSDT"]'}
        load_settings(settings_file(tmp_path, "paper", "paper"), env=env)


@pytest.mark.parametrize(
    ("mode", "venue", "line", "ok"),
    [
        ("paper", "sim", 'spot_rest_url = "http://127.0.0.1:9000"', True),
        ("paper", "sim", 'futures_ws_url = "ws://localhost:9000/market"', True),
        ("paper", "sim", 'spot_rest_url = "https://api.binance.com"', False),
        ("paper", "sim", 'futures_rest_url = "https://testnet.binancefuture.com"', False),
        ("testnet", "binance_testnet", 'futures_rest_url = "https://fapi.binance.com"', False),
        ("testnet", "binance_testnet", 'spot_rest_url = "http://127.0.0.1:9000"', True),
        ("live", "binance", 'spot_rest_url = "https://api1.binance.com"', True),
    ],
)
def test_url_overrides_cannot_leave_the_mode(
    tmp_path: Path, mode: str, venue: str, line: str, ok: bool
) -> None:
    file = settings_file(tmp_path, mode, venue, line + "\n")
    if ok:
        load_settings(file, env={})
        return
    key = "venue." + line.split(" ")[0]
    with pytest.raises(SettingsError, match=rf"general\.mode = '{mode}' .*{key}"):
        load_settings(file, env={})


@pytest.mark.parametrize(
    "argv", [["up"], ["demo"], ["sim"], ["engine"], ["router"], ["bot"], ["db", "migrate"]]
)
def test_every_command_refuses_to_start_on_a_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    file = settings_file(tmp_path, "paper", "binance")
    assert main(["--settings", str(file), *argv]) == 2
    err = capsys.readouterr().err
    assert "general.mode = 'paper' requires venue.name = 'sim'" in err


def test_the_router_checks_the_mode_itself() -> None:
    """A settings object built without validation still cannot reach the wrong venue."""
    unchecked = Settings.model_construct(
        general=GeneralSettings(mode="paper"), venue=VenueSettings(name="binance")
    )
    with pytest.raises(RouterConfigError, match=r"general\.mode = 'paper' requires"):
        venue_config(unchecked, KEYS)


@pytest.mark.parametrize(
    ("mode", "venue", "words"),
    [
        ("paper", "sim", "PAPER — simulated venue, no real money"),
        ("paper", "paper", "PAPER — simulated venue, no real money"),
        ("testnet", "binance_testnet", "TESTNET — Binance testnet, test funds only, no real money"),
        ("live", "binance", "LIVE — REAL MONEY on Binance"),
    ],
)
def test_the_banner_leads_with_the_mode_in_plain_words(mode: str, venue: str, words: str) -> None:
    s = Settings.model_validate({"general": {"mode": mode}, "venue": {"name": venue}})
    assert words in mode_headline(mode)
    lines = banner(s, "postgresql://localhost/x").strip().splitlines()
    assert lines[0] == "Greenlight is up."
    assert lines[1].split(None, 1) == ["MODE", mode_headline(mode)]
    others = {m for m in MODES if m != mode}
    assert not any(mode_headline(o) in "\n".join(lines) for o in others)
    real_money = "REAL MONEY" in "\n".join(lines)
    assert real_money == (mode == "live")
    paper = [ln for ln in lines if ln.split()[0] in ("market", "records")]
    assert bool(paper) == (venue == "paper")
    if paper:
        assert "live data from https://api.binance.com (public endpoints only" in paper[0]
        assert "database schema 'paper'" in paper[1]
