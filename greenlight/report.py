"""The demo report: counts from the database, duplicates checked on the venue itself, and the
three latency paths from the timestamps each process wrote."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import aiohttp
import asyncpg
import numpy as np

from greenlight.core.db import connect
from router.signing import signed_query

LATENCY_SQL = {
    "close_to_decision": "created_at - candle_received_at",
    "decision_to_confirmation": "confirmation_sent_at - created_at",
    "approval_to_exchange_ack": "entry_ack_at - decided_at",
}


def percentiles(values_ms: list[float]) -> dict[str, float | int | None]:
    """p50/p95 (ms, 2 decimals) and the sample count."""
    if not values_ms:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p95": round(float(np.percentile(arr, 95)), 2),
        "n": len(values_ms),
    }


# (path, key of the client id) of every venue listing of orders the demo can place
ORDER_LISTINGS = {
    "spot": [("/api/v3/allOrders", "clientOrderId")],
    "usdm": [("/fapi/v1/allOrders", "clientOrderId"), ("/fapi/v1/allAlgoOrders", "clientAlgoId")],
}


async def venue_client_id_duplicates(
    rest: str, api_key: str, api_secret: str, symbols: dict[str, list[str]]
) -> int:
    """How many client order ids the venue saw more than once (must be 0).

    ``symbols`` maps a market (``spot``/``usdm``) to the symbols traded there."""
    duplicates = 0
    async with aiohttp.ClientSession() as http:
        for market, names in symbols.items():
            for symbol in names:
                # each listing separately: a triggered algo order reappears as a plain order
                for path, key in ORDER_LISTINGS[market]:
                    ids = await _listing(http, rest, path, key, symbol, api_key, api_secret)
                    duplicates += sum(1 for n in Counter(ids).values() if n > 1)
    return duplicates


async def _listing(
    http: aiohttp.ClientSession,
    rest: str,
    path: str,
    key: str,
    symbol: str,
    api_key: str,
    api_secret: str,
) -> list[str]:
    params = {"symbol": symbol, "limit": "100" if "Algo" in path else "1000"}
    params["timestamp"] = str(int(time.time() * 1000))
    url = f"{rest}{path}?{signed_query(api_secret, params)}"
    async with http.get(url, headers={"X-MBX-APIKEY": api_key}) as resp:
        orders = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"{path} {symbol}: HTTP {resp.status} {orders}")
    return [str(o[key]) for o in orders]


async def kill_switch_trips(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every automatic halt: when, why (the guard's own words) and what it cancelled."""
    rows = await conn.fetch(
        "SELECT at, detail FROM audit_log WHERE action = 'kill' AND detail->>'by' = 'auto'"
        " ORDER BY id"
    )
    return [
        {
            "at": r["at"].isoformat(),
            "reason": str(r["detail"].get("reason", "")).split(":")[0],
            "detail": r["detail"].get("reason", ""),
        }
        for r in rows
    ]


async def decision_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Each decision by its candle (ids depend on which stream wrote first): what was
    proposed and what became of it."""
    rows = await conn.fetch(
        "SELECT market, symbol, open_time, side, state, bracket, realized_pnl FROM decisions"
        " ORDER BY open_time, market, symbol"
    )
    return [
        {
            "market": r["market"],
            "symbol": r["symbol"],
            "open_time": r["open_time"],
            "side": r["side"],
            "entry": r["bracket"]["entry_price"],
            "stop": r["bracket"]["stop_price"],
            "targets": [tp["price"] for tp in r["bracket"]["take_profits"]],
            "quantity": r["bracket"]["quantity"],
            "state": r["state"],
            "pnl": None if r["realized_pnl"] is None else str(r["realized_pnl"]),
        }
        for r in rows
    ]


async def fill_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Each fill by its decision's candle and order leg (``E``, ``SL1``, ``TP2``…)."""
    rows = await conn.fetch(
        "SELECT d.market, d.symbol, d.open_time, f.client_order_id, f.side, f.price,"
        " f.quantity, f.commission FROM fills f JOIN decisions d ON d.id = f.decision_id"
        " ORDER BY d.open_time, d.market, f.trade_time, f.client_order_id, f.trade_id"
    )
    return [
        {
            "market": r["market"],
            "symbol": r["symbol"],
            "decision_open_time": r["open_time"],
            "leg": r["client_order_id"].rsplit("-", 1)[-1],
            "side": r["side"],
            "price": str(r["price"]),
            "quantity": str(r["quantity"]),
            "commission": str(r["commission"]),
        }
        for r in rows
    ]


BLOCK_CATEGORIES = ("news", "funding", "vol", "cost", "exposure")


async def decisions_blocked(conn: asyncpg.Connection) -> dict[str, int]:
    """Signals of the decision agent that did not become decisions, by the first thing that
    said no (the listed guards and limits always present; others when they happened)."""
    rows = await conn.fetch(
        "SELECT detail->>'category' AS category, count(*) AS n FROM audit_log"
        " WHERE action = 'signal.skipped' GROUP BY 1 ORDER BY 1"
    )
    out = dict.fromkeys(BLOCK_CATEGORIES, 0)
    for r in rows:
        out[r["category"] or "other"] = int(r["n"])
    return out


async def build(
    url: str, rest: str, api_key: str, api_secret: str, wall_s: float, agent: str = ""
) -> dict[str, Any]:
    """Assemble the demo report; ``agent`` is the decision agent (``strategy.agent``)."""
    conn = await connect(url)
    try:
        q = conn.fetchval
        symbols: dict[str, list[str]] = {}
        for r in await conn.fetch("SELECT DISTINCT market, symbol FROM decisions"):
            symbols.setdefault(r["market"], []).append(r["symbol"])
        out: dict[str, Any] = {
            "agent": agent,
            "candles_ingested": await q("SELECT count(*) FROM candles"),
            "decisions": await q("SELECT count(*) FROM decisions"),
            "decisions_blocked": await decisions_blocked(conn),
            "approved": await q(
                "SELECT count(*) FROM approvals WHERE action='approve' AND accepted"
            ),
            "orders_placed": await q(
                "SELECT count(*) FROM orders WHERE venue_order_id IS NOT NULL"
            ),
            "fills": await q("SELECT count(*) FROM fills"),
            "orders_rejected": await q("SELECT count(*) FROM orders WHERE status = 'REJECTED'"),
            "duplicate_client_order_ids": await venue_client_id_duplicates(
                rest, api_key, api_secret, symbols
            ),
            "positions_closed": await q("SELECT count(*) FROM positions WHERE state='CLOSED'"),
            "positions_open": await q("SELECT count(*) FROM positions WHERE state='OPEN'"),
            "realized_pnl_quote": str(
                await q("SELECT coalesce(sum(realized_pnl), 0) FROM positions") or 0
            ),
            "decisions_by_market": dict(
                (r["market"], r["n"])
                for r in await conn.fetch(
                    "SELECT market, count(*) AS n FROM decisions GROUP BY market ORDER BY market"
                )
            ),
            "decision_states": dict(
                (r["state"], r["n"])
                for r in await conn.fetch(
                    "SELECT state, count(*) AS n FROM decisions GROUP BY state ORDER BY state"
                )
            ),
            "kill_switch_trips": await kill_switch_trips(conn),
            "decision_list": await decision_list(conn),
            "fill_list": await fill_list(conn),
            "wall_seconds": round(wall_s, 1),
        }
        for name, expr in LATENCY_SQL.items():
            rows = await conn.fetch(
                f"SELECT extract(epoch FROM {expr}) * 1000 AS ms FROM decisions"
                f" WHERE {expr} IS NOT NULL"
            )
            out[name] = percentiles([float(r["ms"]) for r in rows])
        return out
    finally:
        await conn.close()
