"""``greenlight audit verify|anchor`` as a person runs them, and the processes' own anchors
and least-privilege login with the embedded server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import pytest

from greenlight.audit_cli import anchoring
from greenlight.core.db import APP_ROLE, role_url, start_embedded, stop_embedded
from greenlight.core.settings import AuditSettings, DatabaseSettings, Settings
from tests.helpers import eventually, wait_until
from tests.integration.audit_support import append, tamper

REPO = Path(__file__).resolve().parents[2]
Done = subprocess.CompletedProcess[str]


def greenlight(*args: str, env: dict[str, str], timeout: float = 60) -> Done:
    return subprocess.run(
        [sys.executable, "-m", "greenlight.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLIGHT_")}
    env.update({"GREENLIGHT_DATABASE_URL": url, **extra})
    return env


async def test_verify_exits_zero_then_names_the_first_bad_row(db_url: str, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    env = cli_env(role_url(db_url, APP_ROLE))
    admin = await asyncpg.connect(db_url)
    try:
        ids = await append(admin, 5)
        no_anchor = greenlight("audit", "verify", "--anchor-file", str(anchors), env=env)
        assert no_anchor.returncode == 0, no_anchor.stderr
        assert "audit chain OK: 5 rows" in no_anchor.stdout and "no anchor" in no_anchor.stdout

        anchored = greenlight("audit", "anchor", "--anchor-file", str(anchors), env=env)
        assert anchored.returncode == 0 and f"#{ids[-1]}" in anchored.stdout
        good = greenlight("audit", "verify", "--anchor-file", str(anchors), env=env)
        assert good.returncode == 0 and "matches 1 anchor(s)" in good.stdout

        await tamper(admin, "DELETE FROM audit_log WHERE id = $1", ids[-1])
        cut = greenlight("audit", "verify", "--anchor-file", str(anchors), env=env)
        assert cut.returncode == 1
        assert f"BROKEN at row #{ids[-2] + 1}" in cut.stdout and "tail was cut" in cut.stdout

        await tamper(admin, "UPDATE audit_log SET actor = 'mallory' WHERE id = $1", ids[1])
        altered = greenlight("audit", "verify", "--anchor-file", str(anchors), env=env)
        assert altered.returncode == 1 and f"BROKEN at row #{ids[1]}: content" in altered.stdout
    finally:
        await admin.close()


async def test_anchoring_writes_periodically_and_when_the_block_ends(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.jsonl"
    settings = Settings(
        database=DatabaseSettings(url=role_url(db_url, APP_ROLE)),
        audit=AuditSettings(anchor_file=str(path), anchor_interval_s=1),
    )
    admin = await asyncpg.connect(db_url)
    try:
        first = await append(admin, 2)
        with anchoring(settings, "engine"):
            await eventually(lambda: _anchors_async(path), 10, "a periodic anchor")
            last = await append(admin, 1)
        lines = _anchors(path)
        assert lines[0]["reason"] == "periodic" and lines[0]["head"]["id"] >= first[-1]
        assert lines[-1]["reason"] == "shutdown" and lines[-1]["by"] == "engine"
        assert lines[-1]["head"]["id"] == last[-1]
    finally:
        await admin.close()


def _anchors(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def _anchors_async(path: Path) -> list[dict[str, object]]:
    return _anchors(path)


@pytest.mark.timeout(180)
def test_process_on_embedded_server_uses_the_app_role_and_anchors_at_shutdown() -> None:
    root = Path(tempfile.mkdtemp(prefix="gl-audit-pg-"))
    pgdata, anchors = root / "pgdata", root / "anchors.jsonl"
    admin_url = start_embedded(pgdata)  # the same server the bot attaches to
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLIGHT_")}
    env.update(
        {
            "GREENLIGHT_DATABASE_DATA_DIR": str(pgdata),
            "GREENLIGHT_AUDIT_ANCHOR_FILE": str(anchors),
            "GREENLIGHT_ROUTER_TOKEN": "t" * 32,
            "GREENLIGHT_BOT_CHART_DIR": str(root / "charts"),
        }
    )
    bot = subprocess.Popen(
        [sys.executable, "-m", "greenlight.cli", "bot"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        users = wait_until(lambda: asyncio.run(_bot_users(admin_url)), 90, "the bot's logins")
        assert users == {APP_ROLE}
        asyncio.run(_append_one(admin_url))
        bot.send_signal(signal.SIGTERM)
        _, err = bot.communicate(timeout=30)
        assert bot.returncode == 0, err
        lines = _anchors(anchors)
        assert lines and lines[-1]["by"] == "bot" and lines[-1]["reason"] == "shutdown"
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        stop_embedded(pgdata)


async def _bot_users(admin_url: str) -> set[str] | None:
    """Who the bot logged in as, once its pool and LISTEN connection are both open."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT usename FROM pg_stat_activity WHERE backend_type = 'client backend'"
            " AND pid <> pg_backend_pid() AND datname = current_database()"
        )
    finally:
        await conn.close()
    users = [r["usename"] for r in rows]
    return set(users) if users.count(APP_ROLE) >= 2 else None


async def _append_one(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await append(conn, 1)
    finally:
        await conn.close()
