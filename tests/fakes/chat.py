"""In-memory channel, router and chart fakes for the bot's seams."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.approvals import ApprovalService
from bot.channel import Confirmation, Inbound, Notice, SentMessage
from bot.commands.catalog import COMMANDS
from bot.context import BotContext
from bot.desk import Desk


@dataclass
class RecordingChannel:
    """A :class:`bot.channel.Channel` that records what it was asked to show."""

    name: str = "fake"
    chat_ids: tuple[str, ...] = ("chat-1",)
    events: frozenset[str] | None = None  # None: every event
    confirmations: list[Confirmation] = field(default_factory=list)
    finalized: dict[str, str] = field(default_factory=dict)
    notices: list[tuple[str, Notice]] = field(default_factory=list)
    fail_sends: int = 0  # the next N send_notice calls fail
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self, inbound: Inbound) -> None:
        self.inbound = inbound

    async def stop(self) -> None:
        return None

    def chats(self) -> tuple[str, ...]:
        return self.chat_ids

    def accepts(self, event: str) -> bool:
        return self.events is None or event in self.events

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        self.confirmations.append(confirmation)
        return [SentMessage(self.name, c, str(next(self._ids))) for c in self.chat_ids]

    async def finalize(self, message: SentMessage, text: str) -> None:
        self.finalized[message.message_id] = text

    async def send_notice(self, chat_id: str, notice: Notice) -> bool:
        if self.fail_sends > 0:
            self.fail_sends -= 1
            return False
        self.notices.append((chat_id, notice))
        return True

    @property
    def alerts(self) -> list[str]:
        """Texts of every notice sent, in order."""
        return [n.text for _, n in self.notices]


@dataclass
class RecordingRouter:
    """Records bracket submissions and kill/resume calls."""

    submitted: list[int] = field(default_factory=list)
    kills: list[tuple[bool, str]] = field(default_factory=list)
    resumes: list[str] = field(default_factory=list)
    entry_failure: str | None = None  # answer like the router does when the venue rejects
    closed: bool = False

    async def submit_bracket(self, decision_id: int) -> dict[str, Any]:
        self.submitted.append(decision_id)
        if self.entry_failure:
            state = {"id": decision_id, "state": "FAILED", "failure_reason": self.entry_failure}
            return {"ok": True, "accepted": True, "decision": state}
        return {"ok": True, "accepted": True, "decision": {"id": decision_id, "state": "ROUTED"}}

    async def kill(self, flatten: bool, by: str) -> dict[str, Any]:
        self.kills.append((flatten, by))
        result = {"trading_enabled": False, "was_enabled": True, "cancelled": [], "live": []}
        return {**result, "flatten": flatten}

    async def resume(self, by: str) -> dict[str, Any]:
        self.resumes.append(by)
        return {"trading_enabled": True, "was_enabled": False}

    async def close(self) -> None:
        self.closed = True


class NoCharts:
    """Chart seam that draws nothing."""

    async def for_decision(self, decision: dict[str, Any]) -> Path | None:
        return None

    async def for_stream(
        self, venue: str, symbol: str, tf: str, at: int | None, highlight: Any
    ) -> Path | None:
        return None

    async def for_trade(self, decision: dict[str, Any]) -> Path | None:
        return None

    async def equity(self, title: str, points: list[Any]) -> Path | None:
        return None


def desk_for(svc: ApprovalService, charts: Any = None) -> Desk:
    """The command desk around an approval service (its settings, pool, roles, router and
    clock)."""
    ctx = BotContext(
        svc.settings,
        svc.pool,
        svc.access,
        svc,
        svc.router,
        charts or NoCharts(),
        svc.key,
        svc.clock,
    )
    return Desk(ctx, COMMANDS)
