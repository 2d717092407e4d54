"""``/watch``, ``/unwatch``, ``/watches``, ``/mute`` and ``/unmute``: each chat's chart alerts
and noise control."""

from __future__ import annotations

from collections.abc import Sequence

from bot.alerts import store
from bot.alerts.events import DESCRIPTIONS, EVENTS, MARKET_EVENTS, parse_duration
from bot.channel import Reply
from bot.commands.table import Call, Option
from bot.render import fmt_dt
from greenlight.core.clock import utc_now


async def watch(call: Call) -> Reply:
    """Subscribe this chat to chart alerts of ``SYMBOL [TF]``."""
    stream = call.ctx.stream_of(call.args)
    if isinstance(stream, str):
        return Reply(stream, ok=False)
    async with call.ctx.pool.acquire() as conn:
        added = await store.watch(conn, call.channel, call.chat_id, stream, call.who)
    _, symbol, tf = stream
    if not added:
        return Reply(f"This chat already watches {symbol} {tf}.")
    kinds = ", ".join(DESCRIPTIONS[e] for e in MARKET_EVENTS)
    return Reply(f"👀 Watching {symbol} {tf}: {kinds} — each with a chart. /unwatch to stop.")


async def unwatch(call: Call) -> Reply:
    """Stop chart alerts of ``SYMBOL [TF]`` in this chat."""
    stream = call.ctx.stream_of(call.args)
    if isinstance(stream, str):
        return Reply(stream, ok=False)
    async with call.ctx.pool.acquire() as conn:
        gone = await store.unwatch(conn, call.channel, call.chat_id, stream)
    _, symbol, tf = stream
    return Reply(f"Stopped watching {symbol} {tf}." if gone else f"Not watching {symbol} {tf}.")


async def watches(call: Call) -> Reply:
    """This chat's subscriptions and mutes."""
    async with call.ctx.pool.acquire() as conn:
        streams = await store.watches(conn, call.channel, call.chat_id)
        muted = await store.mutes(conn, call.channel, call.chat_id)
    lines = ["Watching: " + (", ".join(f"{s} {tf}" for _, s, tf in streams) or "nothing")]
    if muted:
        lines.append(
            "Muted: " + ", ".join(_mute_words(e, m, call.ctx.tz) for e, m in muted.items())
        )
    return Reply("\n".join(lines))


async def mute(call: Call) -> Reply:
    """Mute one event type in this chat, for a while (``30m``, ``2h``, ``1d``) or until
    ``/unmute``; with ``silent`` it still arrives, without a notification."""
    usage = f"Usage: /mute EVENT [30m|2h|1d] [silent]; events: {', '.join(EVENTS)}"
    words = [a.lower() for a in call.args]
    silent = "silent" in words
    rest = [w for w in words if w != "silent"]
    if not 1 <= len(rest) <= 2 or rest[0] not in EVENTS:
        return Reply(usage, ok=False)
    event, until = rest[0], None
    if len(rest) == 2:
        span = parse_duration(rest[1])
        if span is None:
            return Reply("Duration: a number and m, h or d (at most 30 days), e.g. 2h.", ok=False)
        until = utc_now(call.ctx.clock) + span
    async with call.ctx.pool.acquire() as conn:
        await store.mute(conn, call.channel, call.chat_id, event, until, call.who, silent)
    words_ = _mute_words(event, store.Mute(until, silent), call.ctx.tz)
    return Reply(f"🔕 {words_} in this chat. /unmute {event} ends it.")


async def unmute(call: Call) -> Reply:
    """Lift one mute, or every mute of this chat."""
    event = call.args[0].lower() if call.args else None
    if len(call.args) > 1 or (event is not None and event not in EVENTS):
        return Reply(f"Usage: /unmute [EVENT]; events: {', '.join(EVENTS)}", ok=False)
    async with call.ctx.pool.acquire() as conn:
        n = await store.unmute(conn, call.channel, call.chat_id, event)
    if n == 0:
        return Reply("Nothing was muted." if event is None else f"{event} was not muted.")
    return Reply(f"🔔 {event or 'Every event'} unmuted.")


def _mute_words(event: str, mute: store.Mute, tz: str) -> str:
    what = f"{event} ({DESCRIPTIONS[event]}) {'silent' if mute.silent else 'muted'}"
    return f"{what} until {fmt_dt(mute.until, tz)}" if mute.until else what


async def pick_watched(call: Call) -> Sequence[Option]:
    """Buttons for this chat's subscriptions."""
    async with call.ctx.pool.acquire() as conn:
        streams = await store.watches(conn, call.channel, call.chat_id)
    return [(f"{s} {tf}", (s, tf)) for _, s, tf in streams]


async def pick_event(call: Call) -> Sequence[Option]:
    """Buttons for every event type."""
    return [(e, (e,)) for e in EVENTS]
