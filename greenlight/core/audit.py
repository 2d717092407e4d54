"""Verify the hash-chained ``audit_log``.

Each row's ``hash`` is ``sha256(prev_hash|actor|action|decision_id|detail|at)`` (see
``audit_append`` in ``migrations/0001_core.sql``) and ``prev_hash`` is the previous row's
hash (``genesis`` for the first). :func:`verify_chain` recomputes every hash in id order, so
a changed row, a row removed from the middle or the start, or a forged ``prev_hash`` names
the first bad row. A cut tail (the newest rows deleted) leaves a valid chain behind, so it is
caught against anchors kept outside the database (:mod:`greenlight.core.audit_anchor`).

The text forms of ``decision_id``, ``detail`` (jsonb) and ``at`` are rendered by the server,
exactly as ``audit_append`` rendered them when it computed the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

GENESIS = "genesis"
_BATCH = 5000
_ROWS_SQL = """
SELECT id, actor, action, coalesce(decision_id::text, '') AS decision, detail::text AS detail,
       to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at_text, prev_hash, hash
FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2
"""


@dataclass(frozen=True)
class ChainLink:
    """One row of the chain, identified by id and hash."""

    id: int
    hash: str


@dataclass(frozen=True)
class Anchor:
    """The chain's head as seen at some moment, kept outside the database.

    ``first`` is the chain's first row (which chain this is); ``head`` its newest row then.
    """

    database: str
    first: ChainLink
    head: ChainLink
    at: str
    by: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """What is wrong, and the first row it concerns (None when no row can be named)."""

    row_id: int | None
    what: str

    def __str__(self) -> str:
        return f"row #{self.row_id}: {self.what}" if self.row_id is not None else self.what


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`."""

    rows: int
    first: ChainLink | None
    head: ChainLink | None
    anchors_checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        """True when every row and every anchor checked out."""
        return self.problem is None


def row_hash(prev_hash: str, actor: str, action: str, decision: str, detail: str, at: str) -> str:
    """The hash ``audit_append`` stores for a row with these text fields."""
    payload = "|".join((prev_hash, actor, action, decision, detail, at))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _check_row(row: asyncpg.Record, expected_prev: str) -> Problem | None:
    if row["prev_hash"] != expected_prev:
        if expected_prev == GENESIS:
            what = (
                f"the chain's first row links to {row['prev_hash'][:16]}… instead of "
                "'genesis': earlier rows were removed"
            )
        else:
            what = (
                f"prev_hash {row['prev_hash'][:16]}… does not match the previous row's hash "
                f"{expected_prev[:16]}…: a row before it was removed or altered"
            )
        return Problem(row["id"], what)
    fields = ("prev_hash", "actor", "action", "decision", "detail", "at_text")
    computed = row_hash(*(row[f] for f in fields))
    if computed != row["hash"]:
        return Problem(
            row["id"],
            f"content does not match its hash (stored {row['hash'][:16]}…, "
            f"computed {computed[:16]}…): the row was altered",
        )
    return None


def _check_anchor(
    anchor: Anchor, first: ChainLink | None, head: ChainLink | None, seen: dict[int, str]
) -> Problem | None:
    """Compare one anchor against the verified chain (``seen`` maps anchored ids to hashes)."""
    where = f"the anchor written by {anchor.by} at {anchor.at} ({anchor.reason})"
    if first is None or head is None:
        return Problem(
            anchor.head.id,
            f"audit_log is empty but {where} recorded rows up to #{anchor.head.id}: "
            "the log was emptied",
        )
    if first != anchor.first:
        return Problem(
            first.id,
            f"this chain starts at #{first.id} ({first.hash[:16]}…) but {where} recorded a "
            f"chain starting at #{anchor.first.id} ({anchor.first.hash[:16]}…): the log was "
            "emptied and restarted",
        )
    if anchor.head.id > head.id:
        return Problem(
            head.id + 1,
            f"rows after #{head.id} are missing: {where} recorded the head at "
            f"#{anchor.head.id} ({anchor.head.hash[:16]}…); the tail was cut",
        )
    stored = seen.get(anchor.head.id)
    if stored is None:
        return Problem(anchor.head.id, f"the row is missing but {where} recorded it")
    if stored != anchor.head.hash:
        return Problem(
            anchor.head.id,
            f"hash {stored[:16]}… differs from {anchor.head.hash[:16]}… recorded by {where}",
        )
    return None


async def verify_chain(conn: asyncpg.Connection, anchors: Sequence[Anchor] = ()) -> ChainReport:
    """Recompute the whole chain in id order and compare it with ``anchors``.

    Read the anchors *before* calling this: every anchored row was committed before its
    anchor was written, so the snapshot taken here contains it. Stops at the first bad row.
    """
    anchored = {a.head.id for a in anchors}
    seen: dict[int, str] = {}
    first: ChainLink | None = None
    head: ChainLink | None = None
    rows = 0
    expected_prev = GENESIS
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        last_id = 0
        while batch := await conn.fetch(_ROWS_SQL, last_id, _BATCH):
            for row in batch:
                problem = _check_row(row, expected_prev)
                if problem is not None:
                    return ChainReport(rows, first, head, 0, problem)
                head = ChainLink(row["id"], row["hash"])
                first = first or head
                if head.id in anchored:
                    seen[head.id] = head.hash
                expected_prev = head.hash
                rows += 1
            last_id = batch[-1]["id"]
    for anchor in sorted(anchors, key=lambda a: a.head.id, reverse=True):
        problem = _check_anchor(anchor, first, head, seen)
        if problem is not None:
            return ChainReport(rows, first, head, len(anchors), problem)
    return ChainReport(rows, first, head, len(anchors), None)
