"""The LINE :class:`~bot.channel.Channel` (line-bot-sdk v3, async API).

People are LINE ``userId``s with roles (``[[bot.users]]`` with ``channel = "line"``); in a
group every command and tap is checked for the user who sent it, never for the group.
Confirmations are Flex bubbles (chart, key figures, Approve / Reject postbacks with the same
signed tokens as Telegram), multicast to the user ids of ``to_ids`` and pushed to its groups.
Answers use the event's reply token while it is fresh by the bot's clock (free of quota) and
push otherwise.
LINE cannot edit a sent message, so the outcome of a decision is pushed as a short message
when ``outcome`` is among ``[line] events`` (which also chooses the alert types LINE gets).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration, TextMessage
from linebot.v3.webhooks import (
    FollowEvent,
    GroupSource,
    JoinEvent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    TextMessageContent,
)

from bot.channel import Confirmation, Inbound, Notice, Reply, SentMessage
from bot.line import messages as msg
from bot.line.images import SignedImages
from bot.line.sender import LineSender
from bot.line.webhook import LineWebhook
from greenlight.core.clock import Clock, SystemClock

log = logging.getLogger("bot.line")
SEEN_EVENTS = 1000  # webhook event ids remembered against redelivery
WELCOME = "Greenlight here. Send /help for what you can do, /whoami for your LINE user id."


class LineChannel:
    """See the module docstring."""

    name = "line"

    def __init__(
        self,
        access_token: str,
        channel_secret: str,
        api_base_url: str,
        to_ids: Sequence[str],
        public_base_url: str,
        image_dir: Path,
        *,
        webhook: tuple[str, int, str] = ("127.0.0.1", 8768, "/line/webhook"),
        events: Sequence[str] = ("confirmation", "outcome", "kill", "error"),
        image_ttl_s: int = 7 * 86400,
        reply_window_s: float = 50.0,
        backoff: float = 0.5,
        clock: Clock = SystemClock(),
    ) -> None:
        if not access_token or len(channel_secret) < 16:
            raise ValueError(
                "LINE needs a channel access token and its channel secret (32 characters)"
            )
        if not public_base_url.startswith("https://"):
            raise ValueError("line.public_base_url must be https:// (LINE fetches images)")
        self._token = access_token
        self._host = api_base_url.rstrip("/")
        self._to = tuple(to_ids)
        self._events = frozenset(events)
        self._reply_window_ms = reply_window_s * 1000
        self._backoff = backoff
        self._listen = webhook
        self._clock = clock
        image_dir.mkdir(parents=True, exist_ok=True)
        self.images = SignedImages(
            channel_secret.encode(), image_dir, public_base_url, image_ttl_s, clock
        )
        self.webhook = LineWebhook(
            channel_secret, webhook[2], self.images, self._on_events, self._on_refused
        )
        self._client: AsyncApiClient | None = None
        self._sender: LineSender | None = None
        self._inbound: Inbound | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return f"LineChannel(to={list(self._to)})"

    async def start(self, inbound: Inbound) -> None:
        """Open the SDK client and the webhook / image server."""
        self._inbound = inbound
        self._client = AsyncApiClient(Configuration(access_token=self._token, host=self._host))
        self._sender = LineSender(
            AsyncMessagingApi(self._client), self._clock, backoff=self._backoff
        )
        host, port, _ = self._listen
        try:
            await self.webhook.start(host, port)
        except BaseException:
            await self.stop()
            raise
        log.info("line webhook on %s:%d for %d chats", host, self.webhook.port, len(self._to))

    async def stop(self) -> None:
        """Stop the server and close the SDK's HTTP session."""
        await self.webhook.stop()
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def chats(self) -> tuple[str, ...]:
        """``[line] to_ids``."""
        return self._to

    def accepts(self, event: str) -> bool:
        """Whether ``[line] events`` lists ``event`` (quota is scarce)."""
        return event in self._events

    # ----------------------------------------------------------------- outbound

    def _sender_(self) -> LineSender:
        if self._sender is None:
            raise RuntimeError("line channel is not started")
        return self._sender

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        """The Flex confirmation: one multicast to the users, one push per group or room."""
        url = self.images.url(confirmation.chart_path) if confirmation.chart_path else None
        flex = msg.bubble(confirmation.text, url, confirmation.buttons, confirmation.decision_id)
        users = [t for t in self._to if t.startswith("U")]
        sent: list[SentMessage] = []
        if users:
            outcome, _ = await self._sender_().multicast(users, [flex])
            if outcome == "ok":
                mid = f"multicast-{confirmation.decision_id}"
                sent += [SentMessage(self.name, u, mid) for u in users]
        for chat in (t for t in self._to if not t.startswith("U")):
            outcome, ids = await self._sender_().push(chat, [flex])
            if outcome == "ok":
                sent.append(SentMessage(self.name, chat, ids[0] if ids else "push"))
        return sent

    async def finalize(self, message: SentMessage, text: str) -> None:
        """LINE cannot edit: say the outcome in the chat (when ``outcome`` is wanted)."""
        if self.accepts("outcome"):
            await self._sender_().push(message.chat_id, [TextMessage(text=msg.clip(text, 5000))])

    async def send_notice(self, chat_id: str, notice: Notice) -> bool:
        """An alert: its text, then its chart."""
        out: list[Any] = [TextMessage(text=msg.clip(notice.text, msg.MAX_TEXT))]
        if notice.image is not None:
            out.append(msg.image(self.images.url(notice.image)))
        outcome, _ = await self._sender_().push(chat_id, out, silent=notice.silent)
        return outcome == "ok"

    # ----------------------------------------------------------------- inbound

    async def _on_refused(self, what: str, detail: dict[str, object]) -> None:
        log.warning("line: %s %s", what, detail)
        if self._inbound is not None:
            await self._inbound.on_refused(self.name, what, detail)

    async def _on_events(self, events: list[Any]) -> None:
        for event in events:
            try:
                await self._event(event)
            except Exception:
                log.exception("line: event %s failed", type(event).__name__)

    async def _event(self, event: Any) -> None:
        event_id = getattr(event, "webhook_event_id", None)
        if event_id:
            if event_id in self._seen:
                return  # a redelivery of what was handled already
            self._seen[event_id] = None
            while len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        source = event.source
        user = getattr(source, "user_id", None)
        chat = (
            source.group_id
            if isinstance(source, GroupSource)
            else source.room_id
            if isinstance(source, RoomSource)
            else user
        )
        if chat is None or self._inbound is None:
            return
        reply = await self._handle(event, user, chat)
        if reply is not None:
            token = getattr(event, "reply_token", None)
            await self._respond(chat, reply, token, int(event.timestamp))

    async def _handle(self, event: Any, user: str | None, chat: str) -> Reply | None:
        assert self._inbound is not None
        if isinstance(event, FollowEvent | JoinEvent):
            return Reply(WELCOME)
        if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
            words = event.message.text.strip().split()
            if not words or not words[0].startswith("/") or len(words[0]) < 2:
                return None  # people talking in a group: not for the bot
            if user is None:
                return Reply("I cannot tell who sent this (LINE gave no user id).", ok=False)
            command, args = words[0][1:].lower(), words[1:]
            return await self._inbound.on_command(self.name, user, chat, command, args)
        if isinstance(event, PostbackEvent):
            if user is None:
                return Reply("I cannot tell who tapped this (LINE gave no user id).", ok=False)
            return await self._inbound.on_tap(self.name, user, event.postback.data, chat)
        return None

    async def _respond(self, chat: str, reply: Reply, token: str | None, at_ms: int) -> None:
        await self._answer(chat, reply, token, at_ms)
        if reply.live is not None:
            reply.live.attach(_LiveMessage(self, chat))

    async def _answer(self, chat: str, reply: Reply, token: str | None, at_ms: int) -> None:
        urls = [self.images.url(self.images.publish(p)) for p in reply.attachments]
        out = msg.reply_messages(reply.text, urls, reply.buttons)
        sender = self._sender_()
        if token and self._clock.now_ms() - at_ms < self._reply_window_ms:
            outcome, _ = await sender.reply(token, out)
            if outcome == "ok":
                return
        await sender.push(chat, out)

    async def push_reply(self, chat: str, reply: Reply) -> None:
        """A reply pushed to ``chat`` (its images published on the image server)."""
        await self._answer(chat, reply, None, 0)


class _LiveMessage:
    """A reply the bot goes on talking into. LINE cannot edit a sent message, so progress is
    not shown there: the chat gets the start (the reply itself) and the final message."""

    editable = False

    def __init__(self, channel: LineChannel, chat: str) -> None:
        self._channel = channel
        self._chat = chat

    async def edit(self, text: str) -> None:
        """Nothing: LINE has no edit (a push per progress step would spend the quota)."""

    async def send(self, reply: Reply) -> None:
        """Push a further reply (the reply token was spent on the start)."""
        await self._channel.push_reply(self._chat, reply)
