from __future__ import annotations

import asyncpg
import pytest

from greenlight.core.db import migrate


async def test_migrate_is_idempotent_and_tracked(db_url: str) -> None:
    assert await migrate(db_url) == []
    conn = await asyncpg.connect(db_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == sorted(versions) and versions[0] == 1
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        for t in (
            "candles",
            "indicators",
            "signals",
            "decisions",
            "approvals",
            "orders",
            "fills",
            "positions",
            "audit_log",
            "control",
        ):
            assert t in tables
    finally:
        await conn.close()


async def test_audit_log_is_append_only_and_chained(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        a = await conn.fetchval("SELECT audit_append('t', 'one', NULL, '{}'::jsonb)")
        b = await conn.fetchval("SELECT audit_append('t', 'two', NULL, '{\"k\": 1}'::jsonb)")
        rows = await conn.fetch("SELECT * FROM audit_log WHERE id = ANY($1) ORDER BY id", [a, b])
        assert rows[1]["prev_hash"] == rows[0]["hash"]
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_log SET actor = 'x'")
    finally:
        await conn.close()
