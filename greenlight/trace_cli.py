"""``greenlight trace DECISION_ID``: one decision's path in time order, from the database
(candle, signal, decision, confirmation, approvals, orders, fills, close, audit rows) and the
processes' JSON log files (every line carrying the decision's ``trace_id``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from greenlight.core.db import connect, database_url
from greenlight.core.logs import log_dir
from greenlight.core.settings import Settings

Event = tuple[datetime, str, str]  # when, source, what


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
    return None


async def db_events(conn: asyncpg.Connection, decision_id: int) -> tuple[str | None, list[Event]]:
    """The decision's trace id and its events recorded in the database."""
    d = await conn.fetchrow("SELECT * FROM decisions WHERE id = $1", decision_id)
    if d is None:
        return None, []
    out: list[Event] = []

    def add(at: Any, source: str, what: str) -> None:
        when = _ts(at)
        if when is not None:
            out.append((when, source, what))

    c = await conn.fetchrow(
        "SELECT received_at, close FROM candles WHERE venue=$1 AND symbol=$2 AND tf=$3"
        " AND open_time=$4",
        d["venue"],
        d["symbol"],
        d["tf"],
        d["open_time"],
    )
    if c is not None:
        add(c["received_at"], "candle", f"{d['symbol']} {d['tf']} closed at {c['close']}")
    if d["signal_id"] is not None:
        s = await conn.fetchrow("SELECT * FROM signals WHERE id = $1", d["signal_id"])
        if s is not None:
            add(s["created_at"], "signal", f"#{s['id']} {dict(s).get('agent', '')}".strip())
    b = d["bracket"] or {}
    add(
        d["created_at"],
        "decision",
        f"#D-{decision_id} {d['side']} entry {b.get('entry_price')}"
        f" stop {b.get('stop_price')} qty {b.get('quantity')} → PENDING",
    )
    add(d["confirmation_sent_at"], "bot", "confirmation delivered")
    for a in await conn.fetch("SELECT * FROM approvals WHERE decision_id = $1", decision_id):
        verdict = "accepted" if a["accepted"] else f"refused ({a['reason']})"
        auto = " (automatic)" if a["automatic"] else ""
        add(a["at"], "approval", f"{a['action']} by {a['channel']}:{a['user_id']}{auto} {verdict}")
    add(d["decided_at"], "decision", f"decided by {d['decided_by']} via {d['decided_via']}")
    add(d["routed_at"], "router", "routed")
    add(d["entry_ack_at"], "router", "entry acknowledged by the venue")
    for o in await conn.fetch(
        "SELECT * FROM orders WHERE decision_id = $1 ORDER BY id", decision_id
    ):
        what = f"{o['leg']} {o['side']} {o['order_type']} {o['quantity']} ({o['client_order_id']})"
        add(o["created_at"], "order", f"{what} recorded")
        add(o["acked_at"], "order", f"{what} acknowledged, now {o['status']}")
    for f in await conn.fetch(
        "SELECT * FROM fills WHERE decision_id = $1 ORDER BY id", decision_id
    ):
        add(
            f["recorded_at"],
            "fill",
            f"{f['side']} {f['quantity']} @ {f['price']} ({f['client_order_id']})",
        )
    for a in await conn.fetch(
        "SELECT at, actor, action FROM audit_log WHERE decision_id = $1 ORDER BY id", decision_id
    ):
        add(a["at"], "audit", f"{a['actor']}: {a['action']}")
    add(d["closed_at"], "decision", f"closed, state {d['state']}, pnl {d['realized_pnl']}")
    return d["trace_id"], out


def log_events(directory: Path, trace_id: str) -> Iterator[Event]:
    """Log lines carrying ``trace_id`` in the ``*.jsonl`` files of ``directory``."""
    for path in sorted(directory.glob("*.jsonl*")):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if trace_id not in line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                when = _ts(rec.get("ts"))
                if when is None or rec.get("trace_id") != trace_id:
                    continue
                proc = rec.get("process", path.stem)
                yield when, f"log:{proc}", f"{rec.get('level', '')} {rec.get('event', '')}"


def format_trace(decision_id: int, trace_id: str, events: list[Event]) -> str:
    """The report: one line per event, oldest first, with milliseconds since the first."""
    events = sorted(events, key=lambda e: e[0])
    lines = [f"#D-{decision_id}  trace_id {trace_id}  ({len(events)} events)"]
    t0 = events[0][0] if events else None
    for when, source, what in events:
        assert t0 is not None
        dt = (when - t0).total_seconds() * 1000
        lines.append(f"{when:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f"  +{dt:9.1f} ms  {source:<12} {what}")
    return "\n".join(lines)


async def trace_report(settings: Settings, decision_id: int) -> str | None:
    """The printed trace, or ``None`` when the decision does not exist."""
    conn = await connect(database_url(settings))
    try:
        trace_id, events = await db_events(conn, decision_id)
    finally:
        await conn.close()
    if trace_id is None:
        return None
    events += list(log_events(log_dir(settings), trace_id))
    return format_trace(decision_id, trace_id, events)


def run_trace(settings: Settings, decision_id: int) -> int:
    """``greenlight trace DECISION_ID``."""
    text = asyncio.run(trace_report(settings, decision_id))
    if text is None:
        print(f"greenlight trace: no decision #{decision_id}")
        return 1
    print(text)
    return 0
