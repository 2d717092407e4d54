"""The router's Prometheus metrics (served by :mod:`greenlight.core.ops_http`).

Three sources, each chosen so the order path itself carries no metrics code:

- hooks where an event happens: venue errors by code, audit messages dropped, guard checks;
- live readings of the venue and stream objects at scrape time
  (request weight used, websocket reconnects, user streams up);
- :class:`DbObserver`, polling the rows every process already writes (the database is the
  one source of truth): approval → exchange ACK, ACK → protective stop ACKed, entry fill
  ratio, slippage against the decision price, open decisions by state, the kill switch and
  its trips, equity, drawdown and exposure.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from greenlight.core.metrics import GUARD_VERDICTS, LATENCY_BUCKETS, Reading, declare, watch
from router.errors import VenueError
from router.markets.desks import ACCOUNTS

log = logging.getLogger(__name__)
LIVE_STATES = ("PENDING", "APPROVED", "ROUTED", "OPEN")
# The equity row each market publishes, by metric label.
MARKETS = {account.equity_key: account.market for account in ACCOUNTS}


class _Venue(Protocol):
    used_weight: int


class _Stream(Protocol):
    reconnects: int
    connected: bool


class Watched(Protocol):
    """A router process as the scrape sees it: each market's venue and user stream."""

    def links(self) -> Sequence[tuple[str, _Venue, _Stream]]:
        """``(market, REST adapter, user stream)`` per market."""
        ...


APPROVAL_TO_ACK = Histogram(
    "greenlight_approval_to_ack_seconds",
    "Approval recorded → entry order acknowledged by the venue",
    buckets=LATENCY_BUCKETS,
)
ACK_TO_PROTECTED = Histogram(
    "greenlight_ack_to_protected_seconds",
    "Entry acknowledged → first protective stop acknowledged",
    buckets=LATENCY_BUCKETS,
)
FILL_RATIO = Histogram(
    "greenlight_entry_fill_ratio",
    "Filled / ordered quantity of finished entry orders",
    buckets=(0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0),
)
SLIPPAGE_BPS = Histogram(
    "greenlight_slippage_bps",
    "Average entry fill price against the decision's entry price, in basis points "
    "(positive: worse for us)",
    buckets=(-50, -20, -10, -5, -2, 0, 2, 5, 10, 20, 50, 100, 250),
)
VENUE_ERRORS = Counter(
    "greenlight_venue_errors_total", "Venue errors by kind and venue code", ["kind", "code"]
)
OPEN_DECISIONS = Gauge("greenlight_open_decisions", "Decisions not yet finished", ["state"])
KILL_ENGAGED = Gauge("greenlight_kill_switch_engaged", "1 while trading is halted")
KILL_TRIPS = Counter("greenlight_kill_switch_trips_total", "Kill-switch engagements", ["by"])
EQUITY = Gauge("greenlight_equity_quote", "Equity marked to market, quote asset", ["market"])
DRAWDOWN = Gauge(
    "greenlight_drawdown_ratio", "Drop from the UTC day's opening equity (0: none)", ["market"]
)
CLOSED_R = Gauge("greenlight_closed_trades_r", "Sum of closed trades' results in R (risk units)")
GROSS = Gauge(
    "greenlight_closed_trades_gross_quote",
    "Gross profit and gross loss (positive) of closed trades, quote asset",
    ["side"],
)
CLOSED = Gauge("greenlight_closed_trades", "Closed trades by result", ["result"])
EXPOSURE = Gauge(
    "greenlight_exposure_quote", "Open position quantity × entry price, quote asset", ["market"]
)


def venue_error(exc: VenueError) -> None:
    """Count one venue error (hook in the router's error callback)."""
    code = str(exc.code) if exc.code is not None else str(exc.http_status or "none")
    VENUE_ERRORS.labels(type(exc).__name__, code).inc()


def audit_dropped() -> None:
    """Count one venue exchange not audited because the audit queue was full."""
    _DROPS.audit += 1


def guard_checks(found: dict[str, str]) -> None:
    """Record one round of the router's trip checks (``found``: breach kind → text)."""
    for guard in ("drawdown", "stale"):
        hit = any(k.startswith(guard + ":") for k in found)
        GUARD_VERDICTS.labels(guard, "breach" if hit else "ok").inc()


declare(
    "greenlight_venue_request_weight_used",
    "gauge",
    "Request weight used in the venue's current minute (X-MBX-USED-WEIGHT-1M)",
    "market",
)
declare("greenlight_user_stream_connected", "gauge", "1 while a user-data stream is up", "market")


def _router_readings(svc: Watched) -> Iterator[Reading]:
    for market, venue, stream in svc.links():
        yield "greenlight_venue_request_weight_used", (market,), venue.used_weight
        yield "greenlight_ws_reconnects", (f"user:{market}",), stream.reconnects
        yield "greenlight_user_stream_connected", (market,), 1.0 if stream.connected else 0.0
    yield "greenlight_dropped_messages", ("router_audit", "queue_full"), _DROPS.audit


class _Drops:
    audit = 0


_DROPS = _Drops()


class DbObserver:
    """Polls the database every ``interval_s`` and feeds the DB-derived metrics; each
    finished path is observed once (watermarks start at this process's start)."""

    def __init__(self, pool: asyncpg.Pool, interval_s: float = 2.0) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self._since: Any = None
        self._audit_id = 0
        self._seen: deque[int] = deque(maxlen=10_000)

    async def run(self) -> None:
        """Poll until cancelled; a failed round is logged and the next one tried."""
        while True:
            try:
                await self.poll_once()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("metrics poll failed: %s", exc)
            await asyncio.sleep(self.interval_s)

    async def poll_once(self) -> None:
        """One round: latencies and fills finished since the last round, then gauges."""
        async with self.pool.acquire() as conn:
            now = await conn.fetchval("SELECT clock_timestamp()")
            if self._since is None:
                self._since = now
                self._audit_id = await conn.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
            await self._latencies(conn, self._since)
            await self._entries(conn, self._since)
            await self._trips(conn)
            await self._gauges(conn)
            self._since = now

    async def _latencies(self, conn: asyncpg.Connection, since: Any) -> None:
        for (secs,) in await conn.fetch(
            "SELECT extract(epoch FROM entry_ack_at - decided_at)::float8 FROM decisions"
            " WHERE entry_ack_at > $1 AND decided_at IS NOT NULL",
            since,
        ):
            APPROVAL_TO_ACK.observe(max(0.0, secs))
        for (secs,) in await conn.fetch(
            "SELECT extract(epoch FROM min(o.acked_at) - d.entry_ack_at)::float8"
            " FROM decisions d JOIN orders o ON o.decision_id = d.id AND o.leg LIKE 'SL%'"
            " WHERE d.entry_ack_at IS NOT NULL AND o.acked_at IS NOT NULL"
            " GROUP BY d.id, d.entry_ack_at HAVING min(o.acked_at) > $1",
            since,
        ):
            ACK_TO_PROTECTED.observe(max(0.0, secs))

    async def _entries(self, conn: asyncpg.Connection, since: Any) -> None:
        rows = await conn.fetch(
            "SELECT o.id, o.side, o.quantity, o.filled_quantity, o.cum_quote,"
            " (d.bracket->>'entry_price')::numeric AS entry"
            " FROM orders o JOIN decisions d ON d.id = o.decision_id"
            " WHERE o.leg = 'E' AND o.updated_at > $1"
            " AND o.status IN ('FILLED', 'CANCELED', 'EXPIRED', 'REJECTED', 'EXPIRED_IN_MATCH')",
            since,
        )
        for r in rows:
            if r["id"] in self._seen:
                continue
            self._seen.append(r["id"])
            if r["quantity"] > 0:
                FILL_RATIO.observe(float(r["filled_quantity"] / r["quantity"]))
            if r["filled_quantity"] > 0 and r["entry"]:
                avg = r["cum_quote"] / r["filled_quantity"]
                sign = 1 if r["side"] == "BUY" else -1
                SLIPPAGE_BPS.observe(float(sign * (avg - r["entry"]) / r["entry"] * 10_000))

    async def _trips(self, conn: asyncpg.Connection) -> None:
        for r in await conn.fetch(
            "SELECT id, detail->>'by' AS by FROM audit_log WHERE action = 'kill' AND id > $1"
            " ORDER BY id",
            self._audit_id,
        ):
            self._audit_id = r["id"]
            KILL_TRIPS.labels("auto" if (r["by"] or "").startswith("auto") else "person").inc()

    async def _gauges(self, conn: asyncpg.Connection) -> None:
        counts = dict.fromkeys(LIVE_STATES, 0)
        for r in await conn.fetch(
            "SELECT state, count(*) AS n FROM decisions WHERE state = ANY($1::text[])"
            " GROUP BY state",
            list(LIVE_STATES),
        ):
            counts[r["state"]] = r["n"]
        for state, n in counts.items():
            OPEN_DECISIONS.labels(state).set(n)
        rows = {
            r["key"]: r["value"]
            for r in await conn.fetch(
                "SELECT key, value FROM control WHERE key = ANY($1::text[])",
                ["trading_enabled", *MARKETS, *(f"{k}_day_open" for k in MARKETS)],
            )
        }
        KILL_ENGAGED.set(0.0 if rows.get("trading_enabled") is True else 1.0)  # absent: halted
        for key, market in MARKETS.items():
            if key not in rows:
                continue
            equity = float(str(rows[key]))
            EQUITY.labels(market).set(equity)
            opening = rows.get(f"{key}_day_open")
            if isinstance(opening, dict) and float(opening.get("equity", 0)) > 0:
                start = float(opening["equity"])
                DRAWDOWN.labels(market).set(max(0.0, (start - equity) / start))
        await self._results(conn)
        for market in MARKETS.values():
            EXPOSURE.labels(market).set(0.0)
        for r in await conn.fetch(
            "SELECT market, sum(open_quantity * coalesce(entry_price, 0))::float8 AS q"
            " FROM positions WHERE state = 'OPEN' GROUP BY market"
        ):
            EXPOSURE.labels(r["market"]).set(r["q"] or 0.0)

    async def _results(self, conn: asyncpg.Connection) -> None:
        r = await conn.fetchrow(
            "SELECT coalesce(sum(realized_pnl / nullif((bracket->>'risk_quote')::numeric, 0)), 0)"
            "::float8 AS r, coalesce(sum(greatest(realized_pnl, 0)), 0)::float8 AS profit,"
            " coalesce(sum(greatest(-realized_pnl, 0)), 0)::float8 AS loss,"
            " count(*) FILTER (WHERE realized_pnl > 0) AS wins,"
            " count(*) FILTER (WHERE realized_pnl <= 0) AS losses"
            " FROM decisions WHERE state = 'CLOSED' AND realized_pnl IS NOT NULL"
        )
        CLOSED_R.set(r["r"])
        GROSS.labels("profit").set(r["profit"])
        GROSS.labels("loss").set(r["loss"])
        CLOSED.labels("win").set(r["wins"])
        CLOSED.labels("loss").set(r["losses"])


def watch_router(service: Watched) -> None:
    """Include ``service``'s venues and streams in the scrape."""
    watch(service, _router_readings)
