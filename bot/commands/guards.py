"""``/guards``, ``/guard NAME off [DURATION]`` / ``/guard NAME on``, ``/news`` and ``/news add
…``: the command table's handlers for the channel-neutral :mod:`bot.guard_commands`."""

from __future__ import annotations

from bot import guard_commands
from bot.channel import Reply
from bot.commands.table import Call


def _caller(call: Call) -> guard_commands.Caller:
    return guard_commands.Caller(call.channel, call.user_id, call.who, call.role == "admin")


async def guards(call: Call) -> Reply:
    """Each stream's guard verdicts, reasons and until when; bypasses in force."""
    ctx = call.ctx
    return await guard_commands.run(ctx.pool, ctx.settings, _caller(call), "guards", [], ctx.clock)


async def guard(call: Call) -> Reply:
    """Switch a guard off for a bounded time, or back on (admin)."""
    ctx = call.ctx
    return await guard_commands.run(
        ctx.pool, ctx.settings, _caller(call), "guard", [*call.args], ctx.clock
    )


async def news(call: Call) -> Reply:
    """The next news events; ``add`` (admin) puts one on the calendar."""
    ctx = call.ctx
    return await guard_commands.run(
        ctx.pool, ctx.settings, _caller(call), "news", [*call.args], ctx.clock
    )
