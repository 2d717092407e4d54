"""``greenlight audit verify|anchor`` and the anchors every long-running process writes."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from greenlight.core.audit import ChainReport, verify_chain
from greenlight.core.audit_anchor import (
    CHAIN_NAME,
    AnchorError,
    anchor_path,
    read_anchors,
    write_anchor,
)
from greenlight.core.db import DatabaseError, database_url
from greenlight.core.settings import Settings

log = logging.getLogger(__name__)
_SHUTDOWN_WAIT_S = 20.0


def run_audit(settings: Settings, action: str, anchor_file: str | None = None) -> int:
    """``greenlight audit <action>``: 0 when the chain is good (or the anchor was written),
    1 when it is broken, 2 when the database or the anchor file cannot be used."""
    path = Path(anchor_file).expanduser() if anchor_file else anchor_path(settings)
    try:
        url = database_url(settings)
        if action == "anchor":
            anchor = asyncio.run(write_anchor(url, path, "cli", "manual"))
            if anchor is None:
                print("audit_log is empty: nothing to anchor")
            else:
                print(f"anchored head #{anchor.head.id} {anchor.head.hash[:16]}… in {path}")
            return 0
        report, anchors = asyncio.run(_verify(url, path))
    except (OSError, DatabaseError, asyncpg.PostgresError, AnchorError) as exc:
        print(f"greenlight audit: {exc}", file=sys.stderr)
        return 2
    print(describe(report, path, anchors))
    return 0 if report.ok else 1


async def _verify(url: str, path: Path) -> tuple[ChainReport, int]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        database = await conn.fetchval(f"SELECT {CHAIN_NAME}")
        anchors = read_anchors(path, database)  # before the chain is read (see verify_chain)
        return await verify_chain(conn, anchors), len(anchors)
    finally:
        await conn.close()


def describe(report: ChainReport, path: Path, anchors: int) -> str:
    """The human summary of a verification."""
    if not report.ok:
        return f"audit chain BROKEN at {report.problem}"
    if report.head is None:
        chain = "audit chain OK: empty"
    else:
        assert report.first is not None
        chain = (
            f"audit chain OK: {report.rows} rows (#{report.first.id}–#{report.head.id}), "
            f"head {report.head.hash[:16]}…"
        )
    if anchors == 0:
        return (
            f"{chain}; no anchor for this database in {path} yet, so a cut tail cannot be "
            "detected (processes anchor daily and at shutdown; `greenlight audit anchor` now)"
        )
    return f"{chain}; matches {anchors} anchor(s) in {path}"


def _anchor_quietly(settings: Settings, path: Path, by: str, reason: str) -> None:
    try:
        anchor = asyncio.run(write_anchor(database_url(settings), path, by, reason))
    except Exception as exc:  # an anchor is best effort; the process must not die of it
        log.warning("could not anchor the audit chain in %s: %s", path, exc)
        return
    if anchor is not None:
        log.info("audit chain head #%d anchored in %s (%s)", anchor.head.id, path, reason)


@contextmanager
def anchoring(settings: Settings, by: str) -> Iterator[None]:
    """While the block runs, anchor the chain every ``audit.anchor_interval_s``; anchor once
    more when it ends (a clean stop: SIGINT/SIGTERM end the block normally)."""
    path = anchor_path(settings)
    stop = threading.Event()

    def periodic() -> None:
        while not stop.wait(settings.audit.anchor_interval_s):
            _anchor_quietly(settings, path, by, "periodic")

    thread = threading.Thread(target=periodic, name="audit-anchor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)
        # In its own thread too: works whether or not an event loop runs here, and a database
        # that does not answer delays the stop by _SHUTDOWN_WAIT_S at most.
        final = threading.Thread(
            target=_anchor_quietly, args=(settings, path, by, "shutdown"), daemon=True
        )
        final.start()
        final.join(_SHUTDOWN_WAIT_S)
