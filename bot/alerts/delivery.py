"""Alerts to chats: each chat gets its team alerts and the market alerts of the streams it
watches, exactly once, minus what it muted and what its channel does not carry.

Alerts of one candle share one chart and go as one message. Text-only alerts that arrive in
a burst (a fill, then the protection, then a close) wait for a short quiet spell
(``group_window_s``, never longer than ``max_hold_s``) and go as one message; a kill-switch
trip or an error is never held back. Stop, take-profit
and close alerts carry a chart of the trade. A channel that fails to deliver is retried on the
next pass, up to ``MAX_FAILURES`` times per chat.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot import queries
from bot.alerts import store
from bot.alerts.events import router_event
from bot.channel import Channel, Notice
from bot.context import BotContext
from bot.metrics import CHAT_DELIVERY, CHAT_FAILURES, timed

log = logging.getLogger(__name__)
MAX_FAILURES = 5
TRADE_CHART_EVENTS = ("stop", "tp", "closed")
LOUD_EVENTS = ("fill", "stop", "tp", "closed", "kill", "error", "guard")
URGENT_EVENTS = ("kill", "error")  # never held back to group a burst


@dataclass(frozen=True)
class _Item:
    id: int
    event: str
    text: str
    image: Path | None
    age: float
    quiet: bool = False  # the chat asked for this event without a notification


class AlertDelivery:
    """Delivers pending alerts to every chat of every channel; see the module docstring."""

    def __init__(
        self,
        ctx: BotContext,
        channels: Sequence[Channel],
        group_window_s: float = 0.3,
        max_hold_s: float = 2.0,
        max_age: timedelta = timedelta(hours=1),
    ) -> None:
        self._ctx = ctx
        self._channels = list(channels)
        self._window = group_window_s
        self._max_hold = max_hold_s
        self._max_age = max_age
        self._trade_charts: dict[int, Path | None] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self.holding = False  # text alerts are waiting for their burst to end

    async def run_once(self) -> int:
        """One pass over every chat; return how many messages were sent."""
        sent, self.holding = 0, False
        for ch in self._channels:
            async with self._ctx.pool.acquire() as conn:
                watching = await store.watching_chats(conn, ch.name)
            for chat in dict.fromkeys((*ch.chats(), *watching)):
                try:
                    sent += await self._chat(ch, chat)
                except Exception:
                    log.exception("alerts for %s chat %s not delivered", ch.name, chat)
        return sent

    async def _chat(self, ch: Channel, chat: str) -> int:
        async with self._ctx.pool.acquire() as conn:
            pending = await store.pending_for_chat(conn, ch.name, chat, self._max_age)
            if not pending:
                return 0
            muted = await store.mutes(conn, ch.name, chat)
        team = chat in ch.chats()
        items: list[_Item] = []
        skipped: dict[str, list[int]] = {"muted": [], "filtered": []}
        for a in pending:
            event = a["event"] or router_event(a["kind"], a["text"])
            if (a["venue"] is None and not team) or not ch.accepts(event):
                skipped["filtered"].append(a["id"])
            elif event in muted and not muted[event].silent:
                skipped["muted"].append(a["id"])
            else:
                items.append(await self._item(a, event, event in muted))
        async with self._ctx.pool.acquire() as conn:
            for outcome, ids in skipped.items():
                if ids:
                    await store.mark(conn, ids, ch.name, chat, outcome)
        sent = 0
        for ids, notice in self._groups(items):
            delivery = CHAT_DELIVERY.labels(ch.name, "alert")
            ok = await timed(delivery, ch.send_notice(chat, notice), self._ctx.clock)
            if not ok:
                CHAT_FAILURES.labels(ch.name).inc()
            if not ok and self._failed(ch.name, chat):
                return sent  # try again on the next pass
            async with self._ctx.pool.acquire() as conn:
                await store.mark(conn, ids, ch.name, chat, "sent" if ok else "failed")
            sent += ok
        return sent

    def _failed(self, channel: str, chat: str) -> bool:
        """Count a failure; ``True`` while the chat still gets another try."""
        n = self._failures.get((channel, chat), 0) + 1
        self._failures[(channel, chat)] = n
        if n < MAX_FAILURES:
            return True
        self._failures.pop((channel, chat))
        log.error("alerts to %s chat %s given up after %d failures", channel, chat, n)
        return False

    async def _item(self, a: dict[str, Any], event: str, quiet: bool) -> _Item:
        image = Path(a["image"]) if a["image"] else None
        if image is None and event in TRADE_CHART_EVENTS and a["decision_id"] is not None:
            image = await self._trade_chart(int(a["id"]), int(a["decision_id"]))
        return _Item(int(a["id"]), event, str(a["text"]), image, float(a["age"]), quiet)

    async def _trade_chart(self, alert_id: int, decision_id: int) -> Path | None:
        if alert_id not in self._trade_charts:
            async with self._ctx.pool.acquire() as conn:
                d = await queries.decision(conn, decision_id)
            chart = await self._ctx.charts.for_trade(d) if d else None
            self._trade_charts[alert_id] = chart
        return self._trade_charts[alert_id]

    def _groups(self, items: list[_Item]) -> list[tuple[list[int], Notice]]:
        """One message per chart, one for the text-only burst (unless it is still going)."""
        by_image: dict[Path, list[_Item]] = {}
        texts: list[_Item] = []
        for it in items:
            if it.image is not None:
                by_image.setdefault(it.image, []).append(it)
            else:
                texts.append(it)
        out = [([i.id for i in group], _notice(group, image)) for image, group in by_image.items()]
        if texts:
            newest, oldest = min(t.age for t in texts), max(t.age for t in texts)
            urgent = any(t.event in URGENT_EVENTS for t in texts)
            if newest < self._window and oldest < self._max_hold and not urgent:
                self.holding = True
            else:
                out.append(([t.id for t in texts], _notice(texts, None)))
        return sorted(out, key=lambda g: g[0][0])


def _notice(items: list[_Item], image: Path | None) -> Notice:
    silent = not any(i.event in LOUD_EVENTS and not i.quiet for i in items)
    if len(items) == 1:
        return Notice(items[0].text, image, silent)
    head = f"🔔 {len(items)} alerts" if image is None else ""
    lines = [head] if head else []
    return Notice("\n".join(lines + [f"• {i.text}" for i in items]), image, silent)
