"""The audit trail you can verify: the chain check names the first bad row, TRUNCATE is
refused, the processes' role cannot alter audit rows, and a cut tail is caught by anchors."""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from greenlight.core.audit import verify_chain
from greenlight.core.audit_anchor import read_anchors, write_anchor
from greenlight.core.db import APP_ROLE, MIGRATIONS_DIR, role_url
from tests.integration.audit_support import append, tamper


@pytest.fixture
async def admin(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The schema owner (the test server's superuser): the only one who can tamper."""
    conn = await asyncpg.connect(db_url)
    yield conn
    await conn.close()


def test_code_named_by_migrations_exists() -> None:
    named = set()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        named |= set(re.findall(r"\b((?:engine|greenlight)(?:\.\w+)+)", path.read_text()))
    assert "greenlight.core.audit.verify_chain" in named
    for dotted in named:
        module, _, attr = dotted.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), dotted


async def test_a_good_chain_verifies(admin: asyncpg.Connection) -> None:
    ids = await append(admin, 9)
    report = await verify_chain(admin)
    assert report.ok, report.problem
    assert report.rows == 9 and report.head is not None and report.head.id == ids[-1]


async def test_altered_row_is_named(admin: asyncpg.Connection) -> None:
    ids = await append(admin, 5)
    await tamper(admin, "UPDATE audit_log SET detail = '{\"k\": 2}' WHERE id = $1", ids[2])
    report = await verify_chain(admin)
    assert report.problem is not None and report.problem.row_id == ids[2]
    assert "altered" in report.problem.what


async def test_row_removed_from_the_middle_or_start_is_named(admin: asyncpg.Connection) -> None:
    ids = await append(admin, 5)
    await tamper(admin, "DELETE FROM audit_log WHERE id = $1", ids[2])
    report = await verify_chain(admin)
    assert report.problem is not None and report.problem.row_id == ids[3]
    assert "removed or altered" in report.problem.what
    await tamper(admin, "DELETE FROM audit_log WHERE id <= $1", ids[1])
    report = await verify_chain(admin)
    assert report.problem is not None and report.problem.row_id == ids[3]
    assert "earlier rows were removed" in report.problem.what


async def test_truncate_is_refused_even_for_the_owner(admin: asyncpg.Connection) -> None:
    await append(admin, 2)
    with pytest.raises(asyncpg.RaiseError, match="append-only: TRUNCATE refused"):
        await admin.execute("TRUNCATE audit_log")
    with pytest.raises(asyncpg.RaiseError, match="append-only: DELETE refused"):
        await admin.execute("DELETE FROM audit_log")
    assert await admin.fetchval("SELECT count(*) FROM audit_log") == 2


async def test_app_role_appends_but_cannot_alter_audit_rows(db_url: str) -> None:
    app = await asyncpg.connect(role_url(db_url, APP_ROLE))
    try:
        who = await app.fetchrow(
            "SELECT current_user AS u, r.rolsuper, r.rolcreaterole, r.rolbypassrls,"
            " pg_get_userbyid(c.relowner) AS owner FROM pg_roles r, pg_class c"
            " WHERE r.rolname = current_user AND c.oid = 'audit_log'::regclass"
        )
        assert who["u"] == APP_ROLE and who["owner"] != APP_ROLE
        assert not (who["rolsuper"] or who["rolcreaterole"] or who["rolbypassrls"])
        # What the processes do keeps working: append through the function, ordinary DML.
        await append(app, 3)
        await app.execute("UPDATE control SET value = 'true' WHERE key = 'trading_enabled'")
        for sql in (
            "UPDATE audit_log SET actor = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "INSERT INTO audit_log (actor, action, prev_hash, hash) VALUES ('x', 'y', 'z', 'w')",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "DROP TRIGGER audit_log_no_truncate ON audit_log",
            "SET session_replication_role = replica",
            "CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
            "DELETE FROM schema_migrations",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(sql)
        assert (await verify_chain(app)).ok
    finally:
        await app.close()


async def test_cut_tail_is_caught_by_the_anchor(
    admin: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    app_url = role_url(db_url, APP_ROLE)
    ids = await append(admin, 6)
    written = await write_anchor(app_url, anchors, "router", "shutdown")
    assert written is not None and written.head.id == ids[-1]
    assert anchors.stat().st_mode & 0o777 == 0o600
    database = await admin.fetchval("SELECT current_database()")
    assert (await verify_chain(admin, read_anchors(anchors, database))).ok
    assert read_anchors(anchors, "another_database") == []

    await tamper(admin, "DELETE FROM audit_log WHERE id >= $1", ids[4])
    assert (await verify_chain(admin)).ok  # without the anchor, a shorter chain looks fine
    report = await verify_chain(admin, read_anchors(anchors, database))
    assert report.problem is not None and report.problem.row_id == ids[3] + 1
    assert "tail was cut" in report.problem.what and f"#{ids[-1]}" in report.problem.what

    # Emptied and restarted: every row is new, the chain is valid, the anchor is not.
    await tamper(admin, "DELETE FROM audit_log")
    await append(admin, 2)
    report = await verify_chain(admin, read_anchors(anchors, database))
    assert report.problem is not None and "emptied and restarted" in report.problem.what


async def test_emptied_log_is_caught_by_the_anchor(
    admin: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    await append(admin, 2)
    await write_anchor(db_url, anchors, "engine", "periodic")
    await tamper(admin, "DELETE FROM audit_log")
    database = await admin.fetchval("SELECT current_database()")
    report = await verify_chain(admin, read_anchors(anchors, database))
    assert report.problem is not None and "audit_log is empty" in report.problem.what
