"""The database refuses any change of ``decisions.state`` that the lifecycle table lacks, and
the one writer lets exactly one caller win."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from greenlight.core.lifecycle import TRANSITIONS, Event, State, advance, advance_all
from tests.integration.router_support import insert_decision, make_bracket


async def test_trigger_mirrors_the_table(pool: asyncpg.Pool) -> None:
    legal = {(frm.value, to.value) for (frm, _), to in TRANSITIONS.items()}
    async with pool.acquire() as conn:
        for frm, to in itertools.product([s.value for s in State], repeat=2):
            if frm == to:
                continue
            allowed = await conn.fetchval("SELECT decision_transition_allowed($1, $2)", frm, to)
            assert allowed == ((frm, to) in legal), (frm, to)


async def test_one_caller_wins_and_illegal_moves_are_refused(pool: asyncpg.Pool) -> None:
    d = await insert_decision(pool, make_bracket("60000", "59000", ("61000",), "0.01"), "PENDING")
    async with pool.acquire() as conn:
        first = await advance(conn, d, Event.APPROVE, "tester", decided_by="tess")
        second = await advance(conn, d, Event.REJECT, "tester")
        assert first is not None and first["state"] == "APPROVED" and second is None
        audit = await conn.fetchval(
            "SELECT detail FROM audit_log WHERE decision_id = $1 AND action = 'decision.approved'",
            d,
        )
        assert audit["event"] == "approve" and audit["decided_by"] == "tess"
        with pytest.raises(asyncpg.CheckViolationError, match="cannot go from APPROVED to OPEN"):
            await conn.execute("UPDATE decisions SET state = 'OPEN' WHERE id = $1", d)
        cancelled = await advance_all(conn, Event.CANCEL, "tester", "id = $1", (d,))
        assert [r["state"] for r in cancelled] == ["CANCELLED"]
        assert await advance(conn, d, Event.ROUTE, "tester") is None  # terminal stays terminal
