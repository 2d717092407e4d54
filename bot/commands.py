"""Typed commands shared by every channel: /status, /kill, /resume, approve N, reject N."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import queries
from bot.access import REQUIRED_ROLE
from bot.channel import Reply
from engine.modes import mode_headline
from engine.store import audit

if TYPE_CHECKING:
    from bot.approvals import ApprovalService

HELP = "Commands: /status · /kill [flatten] · /resume (admin) · approve N · reject N · /help"


async def dispatch(
    svc: ApprovalService, channel: str, user_id: str, chat_id: str, command: str, args: list[str]
) -> Reply:
    """Check the user's role for ``command`` and run it."""
    command = command.lstrip("/")
    needed = REQUIRED_ROLE.get(command)
    if needed is None:
        return Reply(f"Unknown command {command!r}. {HELP}", ok=False)
    if not svc.access.allows(channel, user_id, needed):
        async with svc.pool.acquire() as conn:
            await audit(
                conn,
                f"{channel}:{user_id}",
                "command.refused",
                None,
                {"command": command, "needed": needed, "chat": chat_id},
            )
        return Reply(f"Not authorised: /{command} needs the {needed} role.", ok=False)
    if command in ("help", "start"):
        return Reply(HELP)
    if command == "status":
        return await status(svc)
    if command in ("approve", "reject"):
        if len(args) != 1 or not args[0].lstrip("#D-").isdigit():
            return Reply(f"Usage: {command} N (the decision number, e.g. {command} 12)", ok=False)
        return await svc.decide(int(args[0].lstrip("#D-")), command, channel, user_id)
    who = svc.access.display_name(channel, user_id)
    if command == "kill":
        flatten = args[:1] == ["flatten"]
        try:
            result = await svc.router.kill(flatten=flatten, by=who)
        except Exception as exc:
            return Reply(f"⚠️ Kill NOT confirmed by the router: {exc}", ok=False)
        await svc.finalize_decided()
        return Reply(f"⛔ Trading halted by {who}. {_summary(result)}")
    try:
        result = await svc.router.resume(by=who)
    except Exception as exc:
        return Reply(f"⚠️ Resume NOT confirmed by the router: {exc}", ok=False)
    return Reply(f"▶️ Trading resumed by {who}. {_summary(result)}")


def _summary(result: dict[str, object]) -> str:
    parts = [
        f"{k.replace('_', ' ')}: {v}"
        for k, v in result.items()
        if isinstance(v, int | str) and k not in ("by",)
    ]
    return " · ".join(parts)


async def status(svc: ApprovalService) -> Reply:
    """Mode (first, in plain words), venue, symbols, trading flag, positions, working orders
    and pending decisions."""
    s = svc.settings
    async with svc.pool.acquire() as conn:
        snap = await queries.status_snapshot(conn)
    lines = [
        mode_headline(s.general.mode),
        f"Greenlight · venue {s.venue.name} · {', '.join(s.market.symbols)} {s.market.timeframe}",
        f"Trading: {'ON' if snap['trading'] else 'OFF (kill switch)'}"
        + (f" · equity {snap['equity']} USDT" if snap["equity"] is not None else ""),
        f"Pending decisions: {len(snap['pending'])}"
        + "".join(f"\n  #D-{p['id']} {p['symbol']}" for p in snap["pending"]),
        f"Open positions: {len(snap['positions'])}"
        + "".join(
            f"\n  #D-{p['decision_id']} {p['side']} {p['open_quantity'].normalize()} "
            f"{p['symbol']} @ {p['entry_price']}"
            for p in snap["positions"]
        ),
        f"Working orders: {len(snap['orders'])}"
        + "".join(
            f"\n  {o['client_order_id']} {o['side']} {o['order_type']} "
            f"{o['quantity'].normalize()} @ {o['price'] or o['stop_price']}"
            for o in snap["orders"]
        ),
    ]
    return Reply("\n".join(lines))
