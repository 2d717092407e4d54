"""Anchors: the audit chain's head, kept outside the database.

An anchor is one JSON line appended to a file (default ``audit-anchors.jsonl`` next to the
embedded server's data directory, or ``audit.anchor_file``): the database name (with the
schema when not the default one, e.g. ``greenlight.paper``), the chain's
first row and its newest row (id and hash), when, by which process and why. The long-running
processes write one daily and at shutdown; ``greenlight audit anchor`` writes one on demand.
Deleting the newest audit rows leaves a valid but shorter chain; the anchors remember how
long it was (:func:`greenlight.core.audit.verify_chain`).
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from greenlight.core.audit import Anchor, ChainLink
from greenlight.core.db import default_data_dir
from greenlight.core.settings import Settings

ANCHOR_FILE_NAME = "audit-anchors.jsonl"
# Which chain an anchor belongs to: the database, plus the schema when it is not the default
# one (the paper venue's records and their audit chain live in a schema of their own).
CHAIN_NAME = (
    "current_database() || CASE WHEN current_schema() = 'public' THEN ''"
    " ELSE '.' || current_schema() END"
)
_ENDS_SQL = f"""
SELECT {CHAIN_NAME} AS database,
       (SELECT id FROM audit_log ORDER BY id LIMIT 1) AS first_id,
       (SELECT hash FROM audit_log ORDER BY id LIMIT 1) AS first_hash,
       (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1) AS head_id,
       (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS head_hash
"""


class AnchorError(ValueError):
    """The anchor file cannot be read (a line is not an anchor)."""


def anchor_path(settings: Settings) -> Path:
    """Where anchors live: ``audit.anchor_file``, else next to the embedded data directory."""
    if settings.audit.anchor_file:
        return Path(settings.audit.anchor_file).expanduser()
    data_dir = Path(settings.database.data_dir) if settings.database.data_dir else None
    return (data_dir or default_data_dir()).expanduser().parent / ANCHOR_FILE_NAME


async def current_anchor(conn: asyncpg.Connection, by: str, reason: str) -> Anchor | None:
    """The chain's ends as an anchor, or None while the audit log is empty."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(_ENDS_SQL)
    assert row is not None
    if row["head_id"] is None:
        return None
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Anchor(
        database=row["database"],
        first=ChainLink(row["first_id"], row["first_hash"]),
        head=ChainLink(row["head_id"], row["head_hash"]),
        at=at,
        by=by,
        reason=reason,
    )


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append ``anchor`` as one line (file mode 0600, locked, flushed to disk)."""
    line = json.dumps(
        {
            "database": anchor.database,
            "first": {"id": anchor.first.id, "hash": anchor.first.hash},
            "head": {"id": anchor.head.id, "hash": anchor.head.hash},
            "at": anchor.at,
            "by": anchor.by,
            "reason": anchor.reason,
        },
        separators=(",", ":"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(path: Path, database: str) -> list[Anchor]:
    """Every anchor in ``path`` written for ``database``, oldest first ([] without a file)."""
    if not path.exists():
        return []
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            anchor = Anchor(
                database=str(raw["database"]),
                first=ChainLink(int(raw["first"]["id"]), str(raw["first"]["hash"])),
                head=ChainLink(int(raw["head"]["id"]), str(raw["head"]["hash"])),
                at=str(raw["at"]),
                by=str(raw["by"]),
                reason=str(raw["reason"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorError(f"{path}:{lineno}: not an audit anchor ({exc})") from exc
        if anchor.database == database:
            out.append(anchor)
    return out


async def write_anchor(url: str, path: Path, by: str, reason: str) -> Anchor | None:
    """Connect to ``url``, read the chain's head and append it to ``path`` (None if empty)."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        anchor = await current_anchor(conn, by, reason)
    finally:
        await conn.close()
    if anchor is not None:
        append_anchor(path, anchor)
    return anchor
