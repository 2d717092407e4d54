"""The real PTB-based TelegramChannel driven against the fake Bot API."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.error import InvalidToken

from bot.callbacks import CallbackError, decode, encode
from bot.channel import Button, Confirmation, Notice, Reply
from bot.telegram import TelegramChannel, clip, parse_command
from greenlight.core.candlefile import read_candles
from tests.conftest import TEST_DATA
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_store import FloodControl
from tests.helpers import eventually

CHATS = (1001, -2002)
KEY = b"telegram-test-callback-key-32byt"
TEXT = (
    "🟢 LONG BTCUSDT · 15m · spot            #D-1842  expires in 14:32\n"
    "Entry 60,250 (limit)   Stop 59,550 (−1.16 %)   Risk 0.5 % = 48.20 USDT"
)


class RecordingInbound:
    """An approval-service stand-in: records calls, refuses forged taps with the codec."""

    def __init__(self) -> None:
        self.taps: list[tuple[str, str, str]] = []
        self.commands: list[tuple[str, str, str, str, list[str]]] = []
        self.attachments: tuple[Path, ...] = ()
        self.refused: list[tuple[str, str]] = []

    async def on_tap(self, channel: str, user_id: str, token: str, chat_id: str = "") -> Reply:
        self.taps.append((channel, user_id, token))
        try:
            decision_id, action = decode(token, KEY)
        except CallbackError:
            return Reply("Refused: this button is not valid.", ok=False)
        return Reply(f"{action} #{decision_id} by {user_id}")

    async def on_command(
        self, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
    ) -> Reply:
        self.commands.append((channel, user_id, chat_id, command, args))
        return Reply(f"/{command} {' '.join(args)}".strip(), attachments=self.attachments)

    async def on_refused(self, channel: str, what: str, detail: dict[str, object]) -> None:
        self.refused.append((channel, what))


@pytest.fixture(scope="module")
def chart_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real chart: BTCUSDT 1h closes of January 2025 rendered to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    candles = read_candles(TEST_DATA / "btcusdt_1h_2025_01" / "btcusdt-1h.csv")
    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=80)
    ax.plot(candles.open_time, candles.close, linewidth=0.8)
    path = tmp_path_factory.mktemp("charts") / "btcusdt-1h.png"
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


@pytest.fixture(scope="module")
def chart_bytes(chart_png: Path) -> bytes:
    return chart_png.read_bytes()


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    fake = FakeTelegramApi(chats=CHATS)
    await fake.start()
    yield fake
    await fake.stop()


COMMANDS = (
    ("status", "viewer", "Status"),
    ("kill", "trader", "Kill switch"),
    ("resume", "admin", "Resume"),
    ("help", "viewer", "Help"),
    ("whoami", "viewer", "Who am I"),
)
USERS = (("1001", "trader"), ("7", "viewer"), ("8", "admin"))


def make_channel(api: FakeTelegramApi) -> TelegramChannel:
    return TelegramChannel(
        api.token,
        api.base_url,
        CHATS,
        poll_timeout=1,
        max_retry_wait=3.0,
        backoff=0.05,
        commands=COMMANDS,
        users=USERS,
    )


@pytest.fixture
async def inbound() -> RecordingInbound:
    return RecordingInbound()


@pytest.fixture
async def channel(
    api: FakeTelegramApi, inbound: RecordingInbound
) -> AsyncIterator[TelegramChannel]:
    chan = make_channel(api)
    await chan.start(inbound)
    yield chan
    await chan.stop()


async def send_alert(chan: TelegramChannel, text: str) -> None:
    """An alert to every chat at once (as the delivery loop does, one chat after another)."""
    await asyncio.gather(*(chan.send_notice(chat, Notice(text)) for chat in chan.chats()))


def confirmation(chart: Path | None, text: str = TEXT) -> Confirmation:
    buttons = (
        Button("✅ Approve", encode(1842, "approve", KEY)),
        Button("❌ Reject", encode(1842, "reject", KEY)),
        Button("🔍 1h chart", encode(1842, "chart", KEY)),
    )
    return Confirmation(1842, text, chart, buttons)


async def test_start_registers_command_menus_per_role(
    api: FakeTelegramApi, channel: TelegramChannel
) -> None:
    assert [c["command"] for c in api.commands] == ["help", "whoami"]  # strangers
    private = {"type": "chat", "chat_id": 1001}  # user 1001's own chat: a trader
    assert api.menu(private) == ["status", "kill", "help", "whoami"]
    viewer = {"type": "chat_member", "chat_id": -2002, "user_id": 7}
    admin = {"type": "chat_member", "chat_id": -2002, "user_id": 8}
    assert api.menu(viewer) == ["status", "help", "whoami"]
    assert api.menu(admin) == ["status", "kill", "resume", "help", "whoami"]
    assert api.menu({"type": "chat", "chat_id": 7}) == []  # 7's private chat is not served
    assert [c.method for c in api.calls[:1]] == ["getMe"]


async def test_confirmation_with_photo_and_buttons_lands_in_every_chat(
    api: FakeTelegramApi, channel: TelegramChannel, chart_png: Path, chart_bytes: bytes
) -> None:
    conf = confirmation(chart_png)
    sent = await channel.send_confirmation(conf)
    assert sorted(int(s.chat_id) for s in sent) == sorted(CHATS)
    for copy in sent:
        [message] = api.sent(int(copy.chat_id))
        assert str(message.message_id) == copy.message_id and copy.channel == "telegram"
        assert message.photo_bytes == chart_bytes
        assert message.caption == TEXT and message.text is None
        assert message.callback_data() == [b.token for b in conf.buttons]
        assert message.photo is not None and message.photo.width > 0


async def test_long_text_goes_after_the_photo_and_finalize_edits_it(
    api: FakeTelegramApi, channel: TelegramChannel, chart_png: Path, chart_bytes: bytes
) -> None:
    long_text = TEXT + "\n" + "Why: CHOCH→BOS up, retest of OB 59,900–60,100. " * 30
    sent = await channel.send_confirmation(confirmation(chart_png, long_text))
    assert len(sent) == len(CHATS)
    for copy in sent:
        photo, text = api.sent(int(copy.chat_id))
        assert photo.photo_bytes == chart_bytes and photo.caption is None
        assert photo.reply_markup is None
        assert text.text == long_text.strip() and str(text.message_id) == copy.message_id
        assert len(text.callback_data()) == 3
    await channel.finalize(sent[0], "✅ Approved by @ana at 12:03 UTC")
    edited = api.sent(int(sent[0].chat_id))[1]
    assert edited.text == "✅ Approved by @ana at 12:03 UTC" and edited.reply_markup is None


async def test_finalize_edits_caption_removes_keyboard_and_tolerates_repeat(
    api: FakeTelegramApi, channel: TelegramChannel, chart_png: Path
) -> None:
    sent = await channel.send_confirmation(confirmation(chart_png))
    for copy in sent:
        await channel.finalize(copy, "❌ Rejected by @bo")
        await channel.finalize(copy, "❌ Rejected by @bo")  # "message is not modified" → fine
        [message] = api.sent(int(copy.chat_id))
        assert message.caption == "❌ Rejected by @bo" and message.reply_markup is None
        assert [e["method"] for e in message.edits] == ["editMessageCaption"]
    assert len(api.calls_of("editMessageCaption")) == 2 * len(CHATS)


async def test_finalize_after_restart_finds_the_caption(
    api: FakeTelegramApi, inbound: RecordingInbound, chart_png: Path
) -> None:
    first = make_channel(api)
    await first.start(inbound)
    sent = await first.send_confirmation(confirmation(chart_png))
    await first.stop()
    second = make_channel(api)
    await second.start(inbound)
    try:
        await second.finalize(sent[0], "⌛ Expired")
    finally:
        await second.stop()
    [message] = api.sent(int(sent[0].chat_id))
    assert message.caption == "⌛ Expired" and message.reply_markup is None


async def test_tap_reaches_inbound_and_is_answered(
    api: FakeTelegramApi, channel: TelegramChannel, inbound: RecordingInbound, chart_png: Path
) -> None:
    conf = confirmation(chart_png)
    copy = (await channel.send_confirmation(conf))[0]
    query_id = api.inject_callback(
        int(copy.chat_id), 42, int(copy.message_id), conf.buttons[0].token
    )

    async def answered() -> bool:
        return bool(api.answered_callbacks)

    await eventually(answered, timeout=5, what="callback answered")
    assert inbound.taps == [("telegram", "42", conf.buttons[0].token)]
    [answer] = api.answered_callbacks
    assert (answer.callback_query_id, answer.text, answer.show_alert) == (
        query_id,
        "approve #1842 by 42",
        False,
    )


async def test_forged_tap_reaches_inbound_which_refuses_it(
    api: FakeTelegramApi, channel: TelegramChannel, inbound: RecordingInbound, chart_png: Path
) -> None:
    copy = (await channel.send_confirmation(confirmation(chart_png)))[0]
    genuine = encode(1842, "reject", KEY)
    forged = "a" + genuine[1:]  # turn a Reject button into an Approve
    api.inject_callback(int(copy.chat_id), 666, int(copy.message_id), forged)

    async def answered() -> bool:
        return bool(api.answered_callbacks)

    await eventually(answered, timeout=5, what="forged callback answered")
    assert inbound.taps == [("telegram", "666", forged)]
    assert api.answered_callbacks[0].text == "Refused: this button is not valid."
    assert api.answered_callbacks[0].show_alert


async def test_commands_reach_on_command_and_reply_with_attachments(
    api: FakeTelegramApi,
    channel: TelegramChannel,
    inbound: RecordingInbound,
    chart_png: Path,
    chart_bytes: bytes,
) -> None:
    inbound.attachments = (chart_png,)
    api.inject_message(-2002, 7, "/Status")
    api.inject_message(-2002, 7, "/approve@greenlight_test_bot 12 now")
    api.inject_message(-2002, 7, "/kill@someone_else_bot")
    api.inject_message(-2002, 7, "just chatting")

    async def replied() -> bool:
        return len(api.sent(-2002)) >= 2

    await eventually(replied, timeout=5, what="command replies")
    assert inbound.commands == [
        ("telegram", "7", "-2002", "status", []),
        ("telegram", "7", "-2002", "approve", ["12", "now"]),
    ]
    # each reply is the chart with the text as its caption, threaded to the command
    replies = api.sent(-2002)
    assert [m.caption for m in replies] == ["/status", "/approve 12 now"]
    assert all(m.photo_bytes == chart_bytes for m in replies)
    assert [m.reply_to for m in replies] == [1, 2]  # the user's messages 1 and 2
    assert api.sent(1001) == []


async def test_rate_limited_send_is_retried_and_delivered_once(
    api: FakeTelegramApi, channel: TelegramChannel
) -> None:
    api.script_error("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await send_alert(channel, "🛑 Kill switch tripped: daily drawdown 3.1 %")
    for chat in CHATS:
        assert [m.text for m in api.sent(chat)] == ["🛑 Kill switch tripped: daily drawdown 3.1 %"]
    assert len(api.calls_of("sendMessage")) == len(CHATS) + 1


async def test_network_errors_are_retried_with_backoff(
    api: FakeTelegramApi, channel: TelegramChannel
) -> None:
    api.script_error("sendMessage", 502, "Bad Gateway", times=2, chat_id=1001)
    await send_alert(channel, "fill: BUY 0.0688 BTC @ 60,250")
    assert [m.text for m in api.sent(1001)] == ["fill: BUY 0.0688 BTC @ 60,250"]
    assert len(api.calls_of("sendMessage")) == len(CHATS) + 2


async def test_blocked_chat_is_skipped(
    api: FakeTelegramApi, channel: TelegramChannel, chart_png: Path
) -> None:
    api.block(-2002)
    sent = await channel.send_confirmation(confirmation(chart_png))
    assert [s.chat_id for s in sent] == ["1001"]
    assert api.sent(-2002) == []
    await send_alert(channel, "still alive")
    assert [m.text for m in api.sent(1001)][-1] == "still alive"


async def test_updates_are_confirmed_across_restart(
    api: FakeTelegramApi, inbound: RecordingInbound
) -> None:
    first = make_channel(api)
    await first.start(inbound)
    api.inject_message(1001, 7, "/status")

    async def got(n: int) -> bool:
        return len(inbound.commands) >= n

    await eventually(lambda: got(1), timeout=5, what="first command")
    await first.stop()
    assert api.updates.pending == []
    api.inject_message(1001, 7, "/help")  # arrives while the bot is down
    second = make_channel(api)
    await second.start(inbound)
    try:
        await eventually(lambda: got(2), timeout=5, what="command sent while down")
        api.inject_message(1001, 7, "/resume")
        await eventually(lambda: got(3), timeout=5, what="third command")
    finally:
        await second.stop()
    assert [c[3] for c in inbound.commands] == ["status", "help", "resume"]
    assert len(set(api.updates.delivered)) == 3


async def test_token_never_logged(
    api: FakeTelegramApi, inbound: RecordingInbound, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chan = make_channel(api)
    await chan.start(inbound)
    api.script_error("sendMessage", 502, "Bad Gateway")
    await send_alert(chan, "hello")
    await chan.stop()
    assert any("getMe" in r.getMessage() for r in caplog.records)
    secret = api.token.split(":")[1]
    assert not [r.getMessage() for r in caplog.records if secret in r.getMessage()]
    assert secret not in repr(chan)


async def test_bad_input_is_refused_before_sending(
    api: FakeTelegramApi, channel: TelegramChannel
) -> None:
    conf = Confirmation(1, "x", None, (Button("Approve", "a" * 65),))
    with pytest.raises(ValueError, match="1-64 bytes"):
        await channel.send_confirmation(conf)
    assert api.sent() == []
    with pytest.raises(ValueError, match="at least one chat"):
        TelegramChannel(api.token, api.base_url, [])
    with pytest.raises(ValueError, match="poll_timeout"):
        TelegramChannel(api.token, api.base_url, [1], poll_timeout=90)


async def test_alert_burst_survives_flood_control(inbound: RecordingInbound) -> None:
    api = FakeTelegramApi(chats=CHATS, flood=FloodControl())
    await api.start()
    chan = make_channel(api)
    await chan.start(inbound)
    try:
        for i in range(5):
            await send_alert(chan, f"alert {i}")
    finally:
        await chan.stop()
        await api.stop()
    for chat in CHATS:
        assert [m.text for m in api.sent(chat)] == [f"alert {i}" for i in range(5)]
    assert len(api.calls_of("sendMessage")) > 5 * len(CHATS)  # some were refused with 429


async def test_rejected_token_fails_start_without_leaking_it(
    api: FakeTelegramApi, inbound: RecordingInbound, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Z" * 35
    chan = TelegramChannel(f"987654321:{secret}", api.base_url, CHATS, poll_timeout=1)
    with pytest.raises(InvalidToken) as err:
        await chan.start(inbound)
    printed = "".join(traceback.format_exception(err.value))
    assert "rejected" in printed and secret not in printed
    assert not [r for r in caplog.records if secret in r.getMessage()]
    assert not api.calls_of("getUpdates")  # 401 answered before any state is touched
    await chan.stop()  # nothing started: a no-op


def test_clip_counts_utf16_units_like_telegram() -> None:
    assert clip("short", 10) == "short"
    assert clip("x" * 11, 10) == "x" * 9 + "…"
    clipped = clip("🟢" * 10, 9)  # each emoji is 2 units: 4 fit before the ellipsis
    assert clipped == "🟢" * 4 + "…"
    assert len(clipped.encode("utf-16-le")) // 2 <= 9


def test_parse_command_forms() -> None:
    assert parse_command("/Status", "greenlight_test_bot") == ("status", [])
    assert parse_command("/kill@Greenlight_Test_Bot flatten", "greenlight_test_bot") == (
        "kill",
        ["flatten"],
    )
    assert parse_command("/kill@other_bot", "greenlight_test_bot") is None
    assert parse_command("", "greenlight_test_bot") is None
    assert parse_command("/ x", "greenlight_test_bot") is None
