"""Rows for the audit-trail tests: appended as the processes append them, altered as only the
schema owner can."""

from __future__ import annotations

import asyncpg

DETAILS = [
    "{}",
    '{"k": 1, "price": 60000.10, "qty": "0.00334", "nested": {"b": [1, 2.5e-7, null]}}',
    '{"text": "déjà vu ✓ \\"quoted\\" | pipe", "a": true, "zz": false, "m": -0.0}',
    '{"big": 123456789012345678901234567890, "e": 1e300}',
]


async def append(conn: asyncpg.Connection, n: int) -> list[int]:
    ids = []
    for i in range(n):
        decision = i if i % 2 else None
        detail = DETAILS[i % len(DETAILS)]
        ids.append(
            await conn.fetchval(
                "SELECT audit_append('test', $1, $2, $3::jsonb)", f"act{i}", decision, detail
            )
        )
    return ids


async def tamper(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    """What only an owner can do: switch the guard triggers off around ``sql``."""
    async with conn.transaction():
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
