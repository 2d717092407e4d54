"""In-memory channel and router fakes for the approval service's seams."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bot.channel import Confirmation, Inbound, SentMessage


@dataclass
class RecordingChannel:
    """A :class:`bot.channel.Channel` that records what it was asked to show."""

    name: str = "fake"
    confirmations: list[Confirmation] = field(default_factory=list)
    finalized: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self, inbound: Inbound) -> None:
        self.inbound = inbound

    async def stop(self) -> None:
        return None

    async def send_confirmation(self, confirmation: Confirmation) -> list[SentMessage]:
        self.confirmations.append(confirmation)
        return [SentMessage(self.name, "chat-1", str(next(self._ids)))]

    async def finalize(self, message: SentMessage, text: str) -> None:
        self.finalized[message.message_id] = text

    async def send_alert(self, text: str) -> None:
        self.alerts.append(text)


@dataclass
class RecordingRouter:
    """Records bracket submissions and kill/resume calls."""

    submitted: list[int] = field(default_factory=list)
    kills: list[tuple[bool, str]] = field(default_factory=list)
    entry_failure: str | None = None  # answer like the router does when the venue rejects

    async def submit_bracket(self, decision_id: int) -> dict[str, Any]:
        self.submitted.append(decision_id)
        if self.entry_failure:
            state = {"id": decision_id, "state": "FAILED", "failure_reason": self.entry_failure}
            return {"ok": True, "accepted": True, "decision": state}
        return {"ok": True, "accepted": True, "decision": {"id": decision_id, "state": "ROUTED"}}

    async def kill(self, flatten: bool, by: str) -> dict[str, Any]:
        self.kills.append((flatten, by))
        return {"trading_enabled": False}

    async def resume(self, by: str) -> dict[str, Any]:
        return {"trading_enabled": True}


class NoCharts:
    """Chart seam that draws nothing."""

    async def for_decision(self, decision: dict[str, Any]) -> None:
        return None
