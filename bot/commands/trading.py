"""``approve N``, ``reject N``, ``/kill [flatten]`` (confirmed with a button) and ``/resume``."""

from __future__ import annotations

from typing import Any

from bot.channel import Reply
from bot.commands.table import Call

_KILL_WORDS = {"flatten", "confirm", "cancel"}


def _decision_id(args: tuple[str, ...]) -> int | None:
    if len(args) != 1:
        return None
    text = args[0].upper().removeprefix("#").removeprefix("D-")
    return int(text) if text.isdigit() else None


async def approve(call: Call) -> Reply:
    """Approve a pending decision by number (as the Approve button does)."""
    return await _decide(call, "approve")


async def reject(call: Call) -> Reply:
    """Reject a pending decision by number."""
    return await _decide(call, "reject")


async def _decide(call: Call, action: str) -> Reply:
    decision_id = _decision_id(call.args)
    if decision_id is None:
        return Reply(f"Usage: {action} N (the decision number, e.g. {action} 12)", ok=False)
    return await call.ctx.approvals.decide(decision_id, action, call.channel, call.user_id)


async def kill(call: Call) -> Reply:
    """Ask for confirmation with a button; on ``confirm`` halt trading through the router."""
    words = {a.lower() for a in call.args}
    if words - _KILL_WORDS:
        return Reply("Usage: /kill or /kill flatten", ok=False)
    flatten = "flatten" in words
    if "cancel" in words:
        return Reply("Kill cancelled: nothing changed.")
    if "confirm" not in words:
        return _ask(call, flatten)
    try:
        result = await call.ctx.router.kill(flatten=flatten, by=call.who)
    except Exception as exc:
        return Reply(
            f"⚠️ Kill NOT confirmed by the router: {exc}. Trading may still be on: try again, "
            "or stop the router process.",
            ok=False,
        )
    await call.ctx.approvals.finalize_decided()
    return Reply(kill_text(call.who, result))


def _ask(call: Call, flatten: bool) -> Reply:
    if flatten:
        text = (
            "Halt trading AND close every open position at market?\n"
            "New entries stop, working entries are cancelled, positions are closed."
        )
        yes = call.button("⛔ Halt and close all", "kill", "flatten", "confirm")
    else:
        text = (
            "Halt trading?\nNew entries stop and working entries are cancelled; open positions "
            "keep their stops and targets."
        )
        yes = call.button("⛔ Halt trading", "kill", "confirm")
    return Reply(text, buttons=(yes, call.button("Cancel", "kill", "cancel")))


def _ids(values: Any) -> list[int]:
    return [int(v) for v in values] if isinstance(values, list) else []


def kill_text(who: str, result: dict[str, Any]) -> str:
    """The router's kill answer in words."""
    lines = [f"⛔ Trading halted by {who}. No new entries until /resume."]
    if result.get("was_enabled") is False:
        lines.append("(It was already halted.)")
    cancelled = _ids(result.get("cancelled"))
    if cancelled:
        refs = ", ".join(f"#D-{d}" for d in cancelled)
        lines.append(f"Cancelled {len(cancelled)} decision(s) not yet on the exchange: {refs}.")
    live = _ids(result.get("live"))
    refs = ", ".join(f"#D-{d}" for d in live)
    if live and result.get("flatten"):
        lines.append(f"Closing {len(live)} position(s) at market: {refs}.")
    elif live:
        lines.append(f"{len(live)} open trade(s) keep their protective orders: {refs}.")
    elif not cancelled:
        lines.append("Nothing was open or pending.")
    return "\n".join(lines)


async def resume(call: Call) -> Reply:
    """Re-enable trading through the router."""
    try:
        result = await call.ctx.router.resume(by=call.who)
    except Exception as exc:
        return Reply(f"⚠️ Resume NOT confirmed by the router: {exc}", ok=False)
    again = " (It was not halted.)" if result.get("was_enabled") is True else ""
    return Reply(f"▶️ Trading resumed by {call.who}. New entries are allowed again.{again}")
