"""The decision lifecycle table: every live state has a way out, every event one target, and
no code but greenlight/core/lifecycle.py writes ``decisions.state``."""

from __future__ import annotations

import re
from pathlib import Path

from greenlight.core.lifecycle import (
    INITIAL,
    LIVE,
    TERMINAL,
    TRANSITIONS,
    Event,
    State,
    path_to,
    target,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_live_state_has_a_way_out_and_reaches_an_end() -> None:
    for state in LIVE:
        exits = {to for (frm, _), to in TRANSITIONS.items() if frm is state}
        assert exits, f"{state} has no way out"
    reachable, frontier = {INITIAL}, [INITIAL]
    while frontier:
        here = frontier.pop()
        for (frm, _), to in TRANSITIONS.items():
            if frm is here and to not in reachable:
                reachable.add(to)
                frontier.append(to)
    assert reachable == set(State), "every state can be reached from PENDING"
    assert all(frm not in TERMINAL for frm, _ in TRANSITIONS), "terminal states stay terminal"


def test_each_event_has_one_target() -> None:
    assert {target(e) for e in Event} <= set(State)
    assert target(Event.APPROVE) is State.APPROVED and target(Event.FLAT) is State.CLOSED


WRITES_STATE = re.compile(r"UPDATE\s+decisions\s+SET[^;]*\bstate\s*=", re.IGNORECASE | re.DOTALL)


def test_no_other_code_writes_the_state() -> None:
    offenders = []
    for package in ("engine", "bot", "router", "greenlight", "charts", "sim"):
        for path in (REPO / package).rglob("*.py"):
            if path == REPO / "greenlight" / "core" / "lifecycle.py":
                continue
            for sql in re.findall(r'"[^"\n]*"', path.read_text()):
                if WRITES_STATE.search(sql):
                    offenders.append(f"{path.relative_to(REPO)}: {sql}")
    assert offenders == []


def test_a_path_leads_to_every_state() -> None:
    assert path_to(State.CLOSED) == [Event.APPROVE, Event.ROUTE, Event.FILL, Event.FLAT]
    assert path_to(State.PENDING) == []
