"""The channel-neutral approval service: the only door between people and orders.

It shows each new decision on every channel, takes Approve / Reject taps (and ``approve N``
through the command table), enforces the trader role, lets the first valid tap win (one atomic
UPDATE), edits every copy of the message to show the outcome and forwards approvals to the
router. Everything it knows lives in
PostgreSQL, so a restarted bot picks up where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

from bot import callbacks, queries
from bot.access import AccessList
from bot.channel import Button, Channel, Confirmation, Reply, SentMessage
from bot.metrics import CHART_RENDER, CHAT_DELIVERY, CHAT_FAILURES, confirmation_delivered, timed
from bot.render import confirmation_text, outcome_text
from greenlight.core.clock import Clock, utc_now
from greenlight.core.contracts import Bracket, NotifyChannel
from greenlight.core.settings import Settings
from greenlight.core.store import audit, notify

log = logging.getLogger(__name__)


class RouterPort(Protocol):
    """What the bot needs from the order router (``router.client.RouterClient``)."""

    async def submit_bracket(self, decision_id: int) -> dict[str, Any]: ...
    async def kill(self, flatten: bool, by: str) -> dict[str, Any]: ...
    async def resume(self, by: str) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class ChartPort(Protocol):
    """Renders the snapshot for a decision; returns the PNG path (or None if impossible)."""

    async def for_decision(self, decision: dict[str, Any]) -> Any: ...


class ApprovalService:
    """Approvals for every channel (the :class:`bot.desk.Desk` hands it the taps); ``clock``
    is the process's, for the "expires in" of a confirmation and the time of a decision."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        channels: Sequence[Channel],
        router: RouterPort,
        access: AccessList,
        charts: ChartPort,
        callback_key: bytes,
        clock: Clock,
        auto_approve: bool = False,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.channels = list(channels)
        self.router = router
        self.access = access
        self.charts = charts
        self.key = callback_key
        self.clock = clock
        self.auto_approve = auto_approve
        self.tz = settings.general.timezone
        self._texts: dict[int, str] = {}
        self._lock = asyncio.Lock()

    # -- showing decisions -------------------------------------------------------------

    async def present(self, decision_id: int) -> bool:
        """Send a PENDING decision to every channel once; ``False`` if nothing to do."""
        async with self._lock:
            async with self.pool.acquire() as conn:
                d = await queries.decision(conn, decision_id)
                if d is None or d["state"] != "PENDING" or await queries.shown(conn, decision_id):
                    return False
                rules = await queries.symbol_steps(conn, d)
            text = self._confirmation_text(d, rules)
            chart = await timed(CHART_RENDER, self.charts.for_decision(d), self.clock)
            buttons = (
                Button("✅ Approve", callbacks.encode(decision_id, "approve", self.key)),
                Button("❌ Reject", callbacks.encode(decision_id, "reject", self.key)),
            )
            conf = Confirmation(decision_id, text, chart, buttons)
            sent: list[SentMessage] = []
            for ch in self.channels:
                if not ch.accepts("confirmation"):
                    continue
                try:
                    hist = CHAT_DELIVERY.labels(ch.name, "confirmation")
                    sent.extend(await timed(hist, ch.send_confirmation(conf), self.clock))
                except Exception:  # a broken channel must not hide the decision elsewhere
                    CHAT_FAILURES.labels(ch.name).inc()
                    log.exception("channel %s failed to show decision %d", ch.name, decision_id)
            self._texts[decision_id] = text
            async with self.pool.acquire() as conn:
                await queries.record_sent(conn, decision_id, sent)
            confirmation_delivered(d.get("created_at"), self.clock)
        if self.auto_approve:
            await self.decide(decision_id, "approve", "auto", "auto-approve", automatic=True)
        return True

    def _confirmation_text(self, d: dict[str, Any], steps: tuple[Any, Any]) -> str:
        bracket = Bracket.model_validate(d["bracket"])
        now = utc_now(self.clock)
        return confirmation_text(d, bracket, steps[0], steps[1], now, self.tz)

    # -- taps ------------------------------------------------------------------------------

    async def on_tap(self, channel: str, user_id: str, token: str) -> Reply:
        """A button tap: decode the opaque token, then decide."""
        try:
            decision_id, action = callbacks.decode(token, self.key)
        except callbacks.CallbackError as exc:
            async with self.pool.acquire() as conn:
                await audit(
                    conn,
                    f"{channel}:{user_id}",
                    "tap.forged",
                    None,
                    {"token": token[:64], "error": str(exc)},
                )
            return Reply("This button is not valid.", ok=False)
        if action not in ("approve", "reject"):
            return Reply(f"Unsupported action {action!r}.", ok=False)
        return await self.decide(decision_id, action, channel, user_id)

    async def decide(
        self,
        decision_id: int,
        action: str,
        channel: str,
        user_id: str,
        automatic: bool = False,
    ) -> Reply:
        """First valid approve/reject wins; every other attempt changes nothing and says why."""
        actor = "auto-approve" if automatic else self.access.display_name(channel, user_id)
        if not automatic and not self.access.allows(channel, user_id, "trader"):
            async with self.pool.acquire() as conn:
                await queries.record_attempt(
                    conn, decision_id, action, channel, user_id, False, "not authorised", False
                )
                await audit(
                    conn,
                    f"{channel}:{user_id}",
                    f"{action}.refused",
                    decision_id,
                    {"reason": "not authorised"},
                )
            return Reply("You are not authorised to approve or reject trades.", ok=False)
        async with self.pool.acquire() as conn, conn.transaction():
            won = await queries.transition_pending(
                conn, decision_id, action, actor, channel, utc_now(self.clock)
            )
            reason = None if won else await queries.why_not_pending(conn, decision_id)
            exists = won or reason != "unknown decision"
            if exists:
                await queries.record_attempt(
                    conn, decision_id, action, channel, user_id, won, reason, automatic
                )
            await audit(
                conn,
                actor,
                f"{action}.{'accepted' if won else 'refused'}",
                decision_id if exists else None,
                {"channel": channel, "user": user_id, "automatic": automatic, "reason": reason},
            )
            if won and action == "approve":
                await notify(conn, NotifyChannel.APPROVED, decision_id)
        if not won:
            return Reply(f"#D-{decision_id}: nothing changed — {reason}.", ok=False)
        if action == "reject":
            await self.finalize_decided()
            return Reply(f"#D-{decision_id} rejected.")
        reply = await self._route(decision_id)
        await self.finalize_decided()  # after routing: editing chats must not delay the order
        return reply

    async def _route(self, decision_id: int) -> Reply:
        try:
            result = await self.router.submit_bracket(decision_id)
            decision = result.get("decision") or {}
        except Exception as exc:
            # The router also routes on its own (NOTIFY, sweep), so it may already have acted:
            # answer with what really happened to the decision.
            async with self.pool.acquire() as conn:
                decision = await queries.decision(conn, decision_id) or {}
            if decision.get("state") == "APPROVED":
                log.warning("router did not take #D-%d yet: %s", decision_id, exc)
                return Reply(f"#D-{decision_id} approved; router: {exc}")
        if decision.get("state") == "FAILED":
            why = decision.get("failure_reason") or "rejected by the exchange"
            return Reply(f"#D-{decision_id} approved but the entry failed: {why}", ok=False)
        return Reply(f"#D-{decision_id} approved and sent to the exchange.")

    # -- housekeeping ------------------------------------------------------------------

    async def hand_over(self) -> list[int]:
        """Submit every APPROVED decision to the router (an approval committed just before a
        crash); the router routes each once, or expires it and tells the approver."""
        async with self.pool.acquire() as conn:
            ids = await queries.approved(conn)
        for did in ids:
            try:
                await self.router.submit_bracket(did)
            except Exception as exc:  # the router's own sweep takes it when it is back
                log.warning("approved #D-%d not handed over yet: %s", did, exc)
        return ids

    async def approve_shown(self) -> list[int]:
        """Auto-approve every shown, still PENDING decision (durable auto-approval: derived
        from the rows, so a bot killed between showing and approving loses nothing)."""
        async with self.pool.acquire() as conn:
            ids = await queries.shown_pending(conn)
        for did in ids:
            await self.decide(did, "approve", "auto", "auto-approve", automatic=True)
        return ids

    async def expire_due(self) -> list[int]:
        """Mark PENDING decisions past their deadline EXPIRED and update their messages."""
        async with self.pool.acquire() as conn:
            expired = await queries.expire_due(conn)
        if expired:
            await self.finalize_decided()
        return expired

    async def finalize_decided(self) -> int:
        """Edit every not-yet-finalized copy of decided decisions; return how many."""
        async with self.pool.acquire() as conn:
            rows = await queries.unfinalized(conn)
        done = 0
        by_channel = {ch.name: ch for ch in self.channels}
        for r in rows:
            ch = by_channel.get(r["channel"])
            if ch is None:
                continue
            text = outcome_text(
                self._texts.get(r["decision_id"], ""), queries.outcome_line(r, self.tz)
            )
            try:
                await ch.finalize(SentMessage(r["channel"], r["chat_id"], r["message_id"]), text)
            except Exception:
                log.exception("could not edit message %s on %s", r["message_id"], r["channel"])
                continue
            async with self.pool.acquire() as conn:
                await queries.mark_finalized(conn, r["id"])
            done += 1
        return done

    async def sweep(self) -> None:
        """Catch up after a (re)start or a missed notification: hand committed approvals over
        to the router, show what was never shown, auto-approve what was shown but not yet
        approved (a bot killed in between), expire and edit (alerts: :mod:`bot.alerts`)."""
        await self.hand_over()
        async with self.pool.acquire() as conn:
            ids = await queries.unshown_pending(conn)
        for did in ids:
            await self.present(did)
        if self.auto_approve:
            await self.approve_shown()
        await self.expire_due()
        await self.finalize_decided()
