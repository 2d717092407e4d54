"""The paper venue keeps its records in a PostgreSQL schema of its own: every migration, the
least-privilege role's rights, the append-only audit chain and its anchors live there, and
nothing a paper process writes reaches the default schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from greenlight.audit_cli import run_audit
from greenlight.core.audit import verify_chain
from greenlight.core.audit_anchor import read_anchors, write_anchor
from greenlight.core.db import (
    APP_ROLE,
    database_url,
    migrate,
    migration_files,
    role_url,
    url_schema,
    with_schema,
)
from greenlight.core.settings import DatabaseSettings, Settings, VenueSettings

TABLES = ("candles", "decisions", "orders", "fills", "audit_log", "control", "approvals")


def paper_settings(url: str, **venue: object) -> Settings:
    return Settings.model_validate(
        {
            "database": DatabaseSettings(url=url).model_dump(),
            "venue": VenueSettings.model_validate({"name": "paper", **venue}).model_dump(),
        }
    )


def test_the_paper_venue_names_its_schema_in_every_process_url(db_url: str) -> None:
    url = database_url(paper_settings(db_url))
    assert url_schema(url) == "paper" and url.startswith(db_url.split("?")[0])
    assert with_schema(url, "paper") == url  # idempotent: children get the same URL back
    other = database_url(paper_settings(db_url, paper={"db_schema": "paper_btc"}))
    assert url_schema(other) == "paper_btc"
    sim = Settings.model_validate({"database": {"url": db_url}})
    assert database_url(sim) == db_url and url_schema(db_url) is None


async def test_paper_records_and_audit_chain_stay_in_their_schema(
    db_url: str, tmp_path: Path
) -> None:
    paper_url = with_schema(db_url, "paper")
    applied = await migrate(paper_url)
    assert applied == [name for _, name, _ in migration_files()]  # 0008's grants among them
    assert await migrate(paper_url) == []
    admin = await asyncpg.connect(db_url)
    app = await asyncpg.connect(role_url(paper_url, APP_ROLE))
    try:
        assert await app.fetchval("SELECT current_schema()") == "paper"
        for table in TABLES:
            assert await admin.fetchval("SELECT to_regclass($1)", f"paper.{table}") is not None
        before = {t: await admin.fetchval(f"SELECT count(*) FROM public.{t}") for t in TABLES}

        # What the processes do, as the least-privilege role, on the paper schema.
        await app.execute("UPDATE control SET value = 'false' WHERE key = 'trading_enabled'")
        first = await app.fetchval("SELECT audit_append('router', 'paper.kill', NULL, '{}')")
        await app.fetchval("SELECT audit_append('bot', 'paper.resume', NULL, '{}')")
        for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM schema_migrations"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(sql)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await admin.execute("UPDATE paper.audit_log SET actor = 'x'")
        assert (await verify_chain(app)).ok
        assert await admin.fetchval("SELECT actor FROM paper.audit_log WHERE id=$1", first)

        after = {t: await admin.fetchval(f"SELECT count(*) FROM public.{t}") for t in TABLES}
        assert after == before, "a paper process wrote into the default schema"
        assert await admin.fetchval(
            "SELECT value FROM public.control WHERE key = 'trading_enabled'"
        ) != await admin.fetchval("SELECT value FROM paper.control WHERE key = 'trading_enabled'")

        # Anchors name the schema: the paper chain is never checked against the default one.
        anchors = tmp_path / "anchors.jsonl"
        written = await write_anchor(role_url(paper_url, APP_ROLE), anchors, "cli", "test")
        database = await admin.fetchval("SELECT current_database()")
        assert written is not None and written.database == f"{database}.paper"
        assert read_anchors(anchors, database) == []
        settings = paper_settings(role_url(db_url, APP_ROLE))
        assert await asyncio.to_thread(run_audit, settings, "verify", str(anchors)) == 0
    finally:
        await app.close()
        await admin.close()
