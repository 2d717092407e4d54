"""structlog JSON lines carrying one trace id, redacted; the id computed alike in Python and
PostgreSQL; ``greenlight trace`` merging database rows and log files in time order."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from greenlight.core.db import connect
from greenlight.core.logs import configure_logging
from greenlight.core.secrets import Secret
from greenlight.core.settings import load_settings
from greenlight.core.trace import HEADER, bind_trace, trace_id_for, traced
from greenlight.trace_cli import db_events, format_trace, log_events
from router.client import RouterClient


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    structlog.reset_defaults()
    bind_trace(None)


def _settings(tmp_path: Path, fmt: str = "auto") -> object:
    return load_settings(env={"GREENLIGHT_LOGS_DIR": str(tmp_path), "GREENLIGHT_LOGS_FORMAT": fmt})


SECRET = {"GREENLIGHT_TELEGRAM_TOKEN": Secret("12345:abcdefSECRETabcdef")}


def test_json_lines_with_trace_id_and_redaction(tmp_path: Path, root_logging: None) -> None:
    out = Stream(tty=False)
    configure_logging(_settings(tmp_path), "engine", SECRET, stderr=out)  # type: ignore[arg-type]
    bind_trace("abcd1234abcd1234")
    logging.getLogger("engine.test").info("posted to %s", "https://x/bot12345:abcdefSECRETabcdef/")
    structlog.get_logger("engine.test").warning("structlog event", token="12345:abcdefSECRETabcdef")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["trace_id"] for x in lines] == ["abcd1234abcd1234"] * 2
    assert lines[0]["event"] == "posted to https://x/bot<redacted>/"
    assert lines[1]["token"] == "<redacted>" and lines[1]["level"] == "warning"
    assert all(x["process"] == "engine" and x["ts"].endswith("Z") for x in lines)
    file_lines = (tmp_path / "engine.jsonl").read_text().splitlines()
    assert len(file_lines) == 2 and "SECRET" not in "".join(file_lines)


def test_human_readable_on_a_terminal(tmp_path: Path, root_logging: None) -> None:
    out = Stream(tty=True)
    configure_logging(_settings(tmp_path), "bot", {}, stderr=out)  # type: ignore[arg-type]
    logging.getLogger("bot.test").info("hello")
    text = out.getvalue()
    assert "hello" in text and not text.lstrip().startswith("{")
    assert (tmp_path / "bot.jsonl").read_text().startswith("{")  # the file stays JSON


def test_scheduler_runs_are_not_logged_its_failures_are(tmp_path: Path, root_logging: None) -> None:
    out = Stream(tty=False)
    configure_logging(_settings(tmp_path), "engine", {}, stderr=out)  # type: ignore[arg-type]
    sched = logging.getLogger("apscheduler.executors.default")
    sched.info('Job "GuardJobs.bypasses" executed successfully')
    sched.warning('Run time of job "GuardJobs.refresh" was missed by 0:00:03')
    events = [json.loads(x)["event"] for x in out.getvalue().splitlines()]
    assert events == ['Run time of job "GuardJobs.refresh" was missed by 0:00:03']


async def test_trace_header_travels_with_router_calls() -> None:
    seen: list[dict[str, str]] = []

    async def state(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/v1/state", state)
    async with TestServer(app, host="127.0.0.1") as server:
        client = RouterClient(str(server.make_url("")), "tok")
        try:
            await client.state()
            await traced("feedfacefeedface", client.state())
        finally:
            await client.close()
    assert HEADER not in seen[0] and seen[0]["Authorization"] == "Bearer tok"
    assert seen[1][HEADER] == "feedfacefeedface" and seen[1]["Authorization"] == "Bearer tok"


async def test_trace_report_from_rows_and_logs(db_url: str, tmp_path: Path) -> None:
    conn = await connect(db_url)
    try:
        did = await conn.fetchval(
            "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
            " signal, expires_at, decided_at, decided_by, decided_via) VALUES ('sim', 'spot',"
            " 'BTCUSDT', '15m', 1796522400000, 'BUY', 'APPROVED', $1::jsonb, '{}'::jsonb,"
            " now() + interval '1 hour', clock_timestamp(), 'local', 'console') RETURNING id",
            {"entry_price": "100", "stop_price": "99", "quantity": "1"},
        )
        stored = await conn.fetchval("SELECT trace_id FROM decisions WHERE id = $1", did)
        assert stored == trace_id_for("sim", "BTCUSDT", "15m", 1796522400000)
        trace_id, events = await db_events(conn, did)
    finally:
        await conn.close()
    assert trace_id == stored
    log = {
        "event": "decision routed",
        "trace_id": stored,
        "level": "info",
        "process": "router",
        "ts": "2099-01-01T00:00:00.000000Z",
    }
    other = {**log, "trace_id": "0000000000000000", "event": "another decision"}
    (tmp_path / "router.jsonl").write_text(json.dumps(other) + "\n" + json.dumps(log) + "\n")
    events += list(log_events(tmp_path, stored))
    text = format_trace(did, stored, events)
    assert f"#D-{did}  trace_id {stored}" in text
    sources = [line.split(" ms  ", 1)[1].split()[0] for line in text.splitlines()[1:]]
    assert sources[0] == "decision" and sources[-1] == "log:router"
    assert "decided by local via console" in text and "another decision" not in text
