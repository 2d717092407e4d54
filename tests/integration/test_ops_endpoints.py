"""``/metrics``, ``/healthz`` and ``/readyz``: served in the loop, ready only when told, a
busy metrics port is a warning (not a crash), and the router's DB-derived metrics."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from engine.metrics import guard_of
from greenlight.core.db import connect_pool
from greenlight.core.ops_http import OpsServer
from greenlight.core.readiness import Readiness
from router import metrics as rm


@pytest.fixture
async def ops() -> AsyncIterator[tuple[OpsServer, Readiness]]:
    readiness = Readiness()
    server = OpsServer("engine", "127.0.0.1", 0, readiness=readiness)
    assert await server.start()
    yield server, readiness
    await server.stop()


async def _get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, await resp.text()


async def test_health_ready_and_metrics(ops: tuple[OpsServer, Readiness]) -> None:
    server, readiness = ops
    port = server.bound_port
    assert (await _get(port, "/healthz"))[0] == 200
    status, body = await _get(port, "/readyz")
    assert status == 503 and "starting" in body
    readiness.set_ready()
    assert (await _get(port, "/readyz"))[0] == 200
    status, text = await _get(port, "/metrics")
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"greenlight_close_to_decision_seconds", "greenlight_queue_depth"} <= names
    assert "greenlight_ws_reconnects" in names  # exposed as greenlight_ws_reconnects_total


async def test_busy_metrics_port_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = OpsServer("bot", "127.0.0.1", port)
        assert not await server.start()
    assert "(metrics.bot_port)" in caplog.text and "running without /metrics" in caplog.text


def test_engine_skip_reasons_map_to_guards() -> None:
    assert guard_of("regime SHOCK: no new entries") == "regime"
    assert guard_of("trading is disabled (kill switch)") == "kill_switch"
    assert guard_of("a decision on this symbol is already pending or open") == (
        "max_open_positions"
    )
    assert guard_of("something new") == "other"


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    v = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if v is None else v


async def test_router_db_observer(db_url: str) -> None:
    pool = await connect_pool(db_url)
    try:
        obs = rm.DbObserver(pool)
        await obs.poll_once()  # sets the watermarks: history is not observed
        before_ack = _value("greenlight_approval_to_ack_seconds_count")
        before_trips = _value("greenlight_kill_switch_trips_total", {"by": "auto"})
        async with pool.acquire() as conn:
            await _decision_with_ack(conn)
            await conn.execute(
                "INSERT INTO control (key, value, updated_by) VALUES"
                " ('trading_enabled', 'false'::jsonb, 't'), ('equity_quote', '9500'::jsonb, 't'),"
                " ('equity_quote_day_open', $1::jsonb, 't')"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                {"day": "2026-01-01", "equity": "10000"},
            )
            await conn.execute(
                "SELECT audit_append('router', 'kill', NULL, $1::jsonb)",
                {"by": "auto", "reason": "test"},
            )
        await obs.poll_once()
        assert _value("greenlight_approval_to_ack_seconds_count") == before_ack + 1
        assert _value("greenlight_kill_switch_trips_total", {"by": "auto"}) == before_trips + 1
        assert _value("greenlight_kill_switch_engaged") == 1.0
        assert _value("greenlight_equity_quote", {"market": "spot"}) == 9500.0
        assert _value("greenlight_drawdown_ratio", {"market": "spot"}) == pytest.approx(0.05)
        assert _value("greenlight_open_decisions", {"state": "ROUTED"}) >= 1
        assert _value("greenlight_slippage_bps_count") >= 1
        assert _value("greenlight_entry_fill_ratio_sum") >= 1.0
    finally:
        await pool.close()


async def _decision_with_ack(conn: asyncpg.Connection) -> None:
    did = await conn.fetchval(
        "INSERT INTO decisions (venue, market, symbol, tf, open_time, side, state, bracket,"
        " signal, expires_at, decided_at, entry_ack_at) VALUES ('sim', 'spot', 'BTCUSDT',"
        " '15m', 1, 'BUY', 'ROUTED', $1::jsonb, '{}'::jsonb, now() + interval '1 hour',"
        " clock_timestamp() - interval '15 milliseconds', clock_timestamp()) RETURNING id",
        {"entry_price": "100"},
    )
    await conn.execute(
        "INSERT INTO orders (decision_id, client_order_id, venue, market, symbol, leg, side,"
        " order_type, quantity, status, filled_quantity, cum_quote) VALUES ($1, $2, 'sim',"
        " 'spot', 'BTCUSDT', 'E', 'BUY', 'MARKET', 2, 'FILLED', 2, 200.2)",
        did,
        f"gl-{did}-E",
    )


async def test_status_report_names_what_is_down(db_url: str) -> None:
    from greenlight.core.settings import load_settings
    from greenlight.procs import free_port
    from greenlight.status_cli import status_report

    port = free_port()
    readiness = Readiness()
    readiness.set_ready()
    server = OpsServer("router", "127.0.0.1", free_port(), readiness=readiness)
    assert await server.start()
    env = {
        "GREENLIGHT_DATABASE_URL": db_url,
        "GREENLIGHT_SIM_PORT": str(port),
        "GREENLIGHT_METRICS_SIM_PORT": str(port),
        "GREENLIGHT_METRICS_ROUTER_PORT": str(server.port),
        "GREENLIGHT_METRICS_ENGINE_PORT": str(free_port()),
        "GREENLIGHT_METRICS_BOT_PORT": "0",
    }
    try:
        text, ok = await status_report(load_settings(env=env))
    finally:
        await server.stop()
    assert not ok
    assert "router  up, ready" in text and "engine  DOWN" in text
    assert f"sim at http://127.0.0.1:{port}: NOT reachable" in text
    assert "Database  " in text and ": up, schema " in text
    assert "Kill switch  " in text and "Lag (newest closed candle per stream):" in text
