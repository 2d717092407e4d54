"""The decision lifecycle: one table ``(state, event) → state`` and the one function that
writes ``decisions.state``.

::

    PENDING ─approve→ APPROVED ─route→ ROUTED ─fill→ OPEN ─flat→ CLOSED
       │ reject → REJECTED    │ expire → EXPIRED  │ fail → FAILED
       │ expire → EXPIRED     │ fail → FAILED     │ cancel → CANCELLED (entry ended unfilled)
       └ cancel → CANCELLED   └ cancel → CANCELLED

Every transition is one atomic ``UPDATE … WHERE state = ANY(<states the event leaves>)
RETURNING *``, so the first caller wins across processes and channels, and each writes an
audit row. Every non-terminal state has a way out that does not need anyone's goodwill:
PENDING and APPROVED expire, ROUTED fails after ``router.routed_timeout_s`` with nothing on
the venue, OPEN closes when the venue is flat (reconciled periodically). Migration 0007
mirrors the table in a trigger that refuses any other change of ``decisions.state``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import asyncpg


class State(StrEnum):
    """Where a decision is."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    ROUTED = "ROUTED"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class Event(StrEnum):
    """What happens to a decision."""

    APPROVE = "approve"  # a person (or --auto-approve) said yes
    REJECT = "reject"  # a person said no
    EXPIRE = "expire"  # its time-to-live ran out before it reached the venue
    ROUTE = "route"  # the router claimed it for the venue
    FILL = "fill"  # the entry traded
    FLAT = "flat"  # the position is closed on the venue
    FAIL = "fail"  # refused by a check, or the venue never had it
    CANCEL = "cancel"  # the kill switch, or an entry that ended unfilled


S, E = State, Event
TRANSITIONS: Mapping[tuple[State, Event], State] = {
    (S.PENDING, E.APPROVE): S.APPROVED,
    (S.PENDING, E.REJECT): S.REJECTED,
    (S.PENDING, E.EXPIRE): S.EXPIRED,
    (S.PENDING, E.CANCEL): S.CANCELLED,
    (S.APPROVED, E.ROUTE): S.ROUTED,
    (S.APPROVED, E.EXPIRE): S.EXPIRED,
    (S.APPROVED, E.FAIL): S.FAILED,
    (S.APPROVED, E.CANCEL): S.CANCELLED,
    (S.ROUTED, E.FILL): S.OPEN,
    (S.ROUTED, E.FAIL): S.FAILED,
    (S.ROUTED, E.CANCEL): S.CANCELLED,
    (S.OPEN, E.FLAT): S.CLOSED,
}
INITIAL = S.PENDING
TERMINAL = frozenset({S.CLOSED, S.REJECTED, S.EXPIRED, S.FAILED, S.CANCELLED})
LIVE = frozenset(State) - TERMINAL


class IllegalTransition(ValueError):
    """The table has no such move."""


def target(event: Event) -> State:
    """The state ``event`` leads to (each event has exactly one)."""
    found = {to for (_, ev), to in TRANSITIONS.items() if ev is event}
    if len(found) != 1:
        raise IllegalTransition(f"event {event} leads to {sorted(found)}")
    return found.pop()


def sources(event: Event, among: Iterable[State] | None = None) -> list[State]:
    """The states ``event`` leaves (restricted to ``among`` when given)."""
    allowed = [frm for (frm, ev) in TRANSITIONS if ev is event]
    if among is None:
        return allowed
    wanted = list(among)
    bad = [s for s in wanted if s not in allowed]
    if bad:
        raise IllegalTransition(f"{event} does not leave {bad}")
    return wanted


def path_to(goal: State, start: State = INITIAL) -> list[Event]:
    """The shortest list of events that takes a decision from ``start`` to ``goal``."""
    paths: dict[State, list[Event]] = {start: []}
    frontier = [start]
    while frontier:
        here = frontier.pop(0)
        for (frm, event), to in TRANSITIONS.items():
            if frm is here and to not in paths:
                paths[to] = [*paths[here], event]
                frontier.append(to)
    if goal not in paths:
        raise IllegalTransition(f"no way from {start} to {goal}")
    return paths[goal]


async def advance(
    conn: asyncpg.Connection,
    decision_id: int,
    event: Event,
    actor: str,
    *,
    only_from: Iterable[State] | None = None,
    guard_sql: str = "",
    guard_args: tuple[Any, ...] = (),
    audit: Mapping[str, Any] | None = None,
    **columns: Any,
) -> asyncpg.Record | None:
    """Apply ``event`` to one decision if it is in a state the event leaves (``only_from``
    narrows them; ``guard_sql`` adds a condition whose parameters are ``$2…``), setting
    ``columns`` too; the updated row, or ``None`` when another caller won or the guard
    failed. The only code that writes ``decisions.state``."""
    where = ("id = $1", (decision_id,))
    guard = (guard_sql, guard_args)
    rows = await _update(conn, event, actor, where, guard, only_from, audit, columns)
    return rows[0] if rows else None


async def advance_all(
    conn: asyncpg.Connection,
    event: Event,
    actor: str,
    where_sql: str,
    where_args: tuple[Any, ...] = (),
    *,
    only_from: Iterable[State] | None = None,
    audit: Mapping[str, Any] | None = None,
    **columns: Any,
) -> list[asyncpg.Record]:
    """:func:`advance` for every decision matching ``where_sql`` (parameters ``$1…``)."""
    where = (where_sql, where_args)
    return await _update(conn, event, actor, where, ("", ()), only_from, audit, columns)


Clause = tuple[str, tuple[Any, ...]]  # SQL and its parameters


async def _update(
    conn: asyncpg.Connection,
    event: Event,
    actor: str,
    where: Clause,
    guard: Clause,
    only_from: Iterable[State] | None,
    audit: Mapping[str, Any] | None,
    columns: Mapping[str, Any],
) -> list[asyncpg.Record]:
    (where_sql, where_args), (guard_sql, guard_args) = where, guard
    new, old = target(event), [s.value for s in sources(event, only_from)]
    args: list[Any] = [*where_args, *guard_args, old, new.value]
    sets = [f"state = ${len(args)}", "updated_at = clock_timestamp()"]
    for name, value in columns.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    cond = f"({where_sql}) AND state = ANY(${len(where_args) + len(guard_args) + 1}::text[])"
    if guard_sql:
        cond += f" AND ({guard_sql})"
    rows = await conn.fetch(
        f"UPDATE decisions SET {', '.join(sets)} WHERE {cond} RETURNING *", *args
    )
    detail: dict[str, Any] = {"event": event.value, "from": old, "to": new.value}
    detail |= {k: _plain(v) for k, v in {**columns, **(audit or {})}.items()}
    for row in rows:
        action = f"decision.{new.value.lower()}"
        await conn.execute(
            "SELECT audit_append($1, $2, $3, $4::jsonb)", actor, action, row["id"], detail
        )
    return list(rows)


def _plain(value: Any) -> Any:
    """A JSON-friendly audit value (decimals and times as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
