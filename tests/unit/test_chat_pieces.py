"""Small pure pieces of the chat layer: command buttons, durations, alert kinds, signed
image URLs, LINE signatures, Telegram menus, the kill reply in words."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.alerts.events import parse_duration, router_event
from bot.callbacks import CallbackError, decode, decode_command, encode_command
from bot.commands.trading import kill_text
from bot.line.images import SignedImages
from bot.line.webhook import valid_signature
from bot.telegram_menus import menus
from tests.fakes.clock import FakeClock
from tests.fakes.line_webhook import signature

KEY = b"k" * 32
words = st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)


@given(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True), st.lists(words, max_size=3))
def test_command_buttons_round_trip_within_64_bytes(command: str, args: list[str]) -> None:
    token = encode_command(command, args, KEY)
    assert len(token.encode()) <= 64 and re.fullmatch(r"[A-Za-z0-9._-]+", token)
    assert decode_command(token, KEY) == (command, args)
    with pytest.raises(CallbackError):
        decode(token, KEY)  # never mistaken for an approval
    with pytest.raises(CallbackError):
        decode_command(token, b"o" * 32)


def test_command_button_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        encode_command("kill", ["con firm"], KEY)
    with pytest.raises(ValueError):
        encode_command("Kill", [], KEY)
    with pytest.raises(ValueError):
        encode_command("watch", ["A" * 20, "B" * 20], KEY)


def test_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2H") == timedelta(hours=2)
    assert parse_duration("30d") == timedelta(days=30)
    for bad in ("31d", "0m", "1w", "-2h", "2", "h", "1.5h"):
        assert parse_duration(bad) is None, bad


def test_router_alert_kinds() -> None:
    assert router_event("fill", "🛑 Stop SL filled SELL 0.01 BTCUSDT @ 59,000 · #D-1") == "stop"
    assert router_event("fill", "🎯 Take-profit TP1 filled SELL 0.01 BTCUSDT @ 1 · #D-1") == "tp"
    assert router_event("fill", "✅ Filled BUY 0.01 BTCUSDT @ 60,000 · #D-1") == "fill"
    assert router_event("resume", "▶️ Trading resumed by ann") == "kill"
    assert router_event("closed", "🏁 Closed #D-1") == "closed"
    assert router_event("whatever", "x") == "info"


def test_signed_image_urls(tmp_path: Path) -> None:
    chart = tmp_path / "decision-7.png"
    chart.write_bytes(b"png")
    clock = FakeClock(datetime.fromtimestamp(1000, UTC))
    images = SignedImages(KEY, tmp_path, "https://bot.example.com/", 60, clock)
    url = images.url(chart)
    assert url.startswith("https://bot.example.com/line/img/decision-7.png?e=1060&s=")
    tag = url.rsplit("s=", 1)[1]
    assert images.resolve("decision-7.png", "1061", tag) is None  # moved expiry
    assert images.resolve("decision-8.png", "1060", tag) is None
    assert images.resolve("../secrets.png", "1060", tag) is None
    clock.advance(59)
    assert images.resolve("decision-7.png", "1060", tag) == chart
    clock.advance(2)
    assert images.resolve("decision-7.png", "1060", tag) is None  # expired
    with pytest.raises(ValueError):
        images.url(tmp_path.parent / "other.png")


def test_line_signature_is_checked_on_the_raw_body() -> None:
    body = b'{"destination":"U0","events":[]}'
    good = signature("s3cret", body)
    assert valid_signature("s3cret", body, good)
    assert not valid_signature("s3cret", body + b" ", good)
    assert not valid_signature("other", body, good)
    assert not valid_signature("s3cret", body, "é" + good)


def test_telegram_menus_per_role() -> None:
    rows = [
        ("status", "viewer", "s"),
        ("kill", "trader", "k"),
        ("resume", "admin", "r"),
        ("help", "viewer", "h"),
        ("whoami", "viewer", "w"),
    ]
    out = menus(rows, [("5", "trader"), ("6", "admin")], [5, -100])
    named = [(s.to_dict() if s else None, [c.command for c in cmds]) for s, cmds in out]
    assert named == [
        (None, ["help", "whoami"]),
        ({"type": "chat", "chat_id": 5}, ["status", "kill", "help", "whoami"]),
        (
            {"type": "chat_member", "chat_id": -100, "user_id": 5},
            ["status", "kill", "help", "whoami"],
        ),
        (
            {"type": "chat_member", "chat_id": -100, "user_id": 6},
            ["status", "kill", "resume", "help", "whoami"],
        ),
    ]


def test_kill_reply_in_words() -> None:
    text = kill_text(
        "ann", {"was_enabled": True, "cancelled": [3, 4], "live": [2], "flatten": True}
    )
    assert text.splitlines() == [
        "⛔ Trading halted by ann. No new entries until /resume.",
        "Cancelled 2 decision(s) not yet on the exchange: #D-3, #D-4.",
        "Closing 1 position(s) at market: #D-2.",
    ]
    again = kill_text("bob", {"was_enabled": False, "cancelled": [], "live": [2]})
    assert "(It was already halted.)" in again and "keep their protective orders: #D-2" in again


def test_channels_are_built_from_settings_and_secrets(tmp_path: Path) -> None:
    from bot.channels import build_channels
    from bot.commands.catalog import COMMANDS
    from greenlight.core.secrets import Secret
    from greenlight.core.settings import Settings

    line = Settings.model_validate(
        {
            "bot": {"channels": ["line"], "chart_dir": str(tmp_path)},
            "line": {"to_ids": ["U" + "0" * 32], "public_base_url": "https://bot.example.com"},
        }
    )
    with pytest.raises(ValueError, match="GREENLIGHT_LINE_ACCESS_TOKEN"):
        build_channels(line, {}, COMMANDS, FakeClock())
    secrets = {
        "GREENLIGHT_LINE_ACCESS_TOKEN": Secret("token"),
        "GREENLIGHT_LINE_CHANNEL_SECRET": Secret("0123456789abcdef0123456789abcdef"),
    }
    [channel] = build_channels(line, secrets, COMMANDS, FakeClock())
    assert channel.name == "line" and channel.chats() == ("U" + "0" * 32,)
    assert channel.accepts("confirmation") and not channel.accepts("fvg")
    assert "token" not in repr(channel) and "0123456789abcdef" not in repr(channel)
    no_url = line.model_copy(update={"line": line.line.model_copy(update={"public_base_url": ""})})
    with pytest.raises(ValueError, match="public_base_url"):
        build_channels(no_url, secrets, COMMANDS, FakeClock())
    with pytest.raises(ValueError, match="webhook_url"):
        Settings.model_validate({"telegram": {"mode": "webhook"}})
    with pytest.raises(ValueError, match="https"):
        Settings.model_validate({"line": {"public_base_url": "http://bot.example.com"}})
