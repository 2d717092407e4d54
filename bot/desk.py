"""The bot's front desk: implements :class:`bot.channel.Inbound` for every channel.

Typed commands and command buttons go to the one command table; Approve / Reject buttons go
to the approval service; a decision's chart button shows ``/decision N``. Forged buttons and
forged webhooks are refused and audited here.
"""

from __future__ import annotations

from bot import callbacks
from bot.channel import Reply
from bot.commands.table import CommandTable
from bot.context import BotContext
from greenlight.core.store import audit


class Desk:
    """Routes what people send to the command table or the approval service."""

    def __init__(self, ctx: BotContext, table: CommandTable) -> None:
        self.ctx = ctx
        self.table = table

    async def on_command(
        self, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
    ) -> Reply:
        """A typed command: the table checks the role and runs that row's handler."""
        return await self.table.dispatch(self.ctx, channel, user_id, chat_id, command, args)

    async def on_tap(self, channel: str, user_id: str, token: str, chat_id: str = "") -> Reply:
        """A button: a command button runs its command as the person who tapped it."""
        if callbacks.is_command_token(token):
            try:
                command, args = callbacks.decode_command(token, self.ctx.key)
            except callbacks.CallbackError as exc:
                await self._forged(channel, user_id, token, str(exc))
                return Reply("This button is not valid.", ok=False)
            return await self.table.dispatch(
                self.ctx, channel, user_id, chat_id, command, args, tapped=True
            )
        try:
            decision_id, action = callbacks.decode(token, self.ctx.key)
        except callbacks.CallbackError:
            decision_id, action = 0, "approve"  # the approval service audits the forgery
        if action == "chart":
            return await self.table.dispatch(
                self.ctx, channel, user_id, chat_id, "decision", [str(decision_id)], tapped=True
            )
        return await self.ctx.approvals.on_tap(channel, user_id, token)

    async def on_refused(self, channel: str, what: str, detail: dict[str, object]) -> None:
        """Audit a request refused before it named a person (e.g. a forged webhook)."""
        async with self.ctx.pool.acquire() as conn:
            await audit(conn, f"{channel}:?", what, None, dict(detail))

    async def _forged(self, channel: str, user_id: str, token: str, error: str) -> None:
        async with self.ctx.pool.acquire() as conn:
            detail = {"token": token[:64], "error": error}
            await audit(conn, f"{channel}:{user_id}", "tap.forged", None, detail)
