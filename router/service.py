"""The router process: wires the venue, the database, the HTTP API and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Coroutine
from typing import Any

import asyncpg
from aiohttp import web

from greenlight.core.clock import Clock, SystemClock, now_s
from greenlight.core.contracts import NotifyChannel, notified_id
from greenlight.core.db import DatabaseError, connect_pool, database_url
from greenlight.core.db_outage import Backoff, ResilientListener, retry_while_unavailable
from greenlight.core.ops_http import OpsServer
from greenlight.core.readiness import mark_ready
from greenlight.core.runtime import run_until_signalled
from greenlight.core.secrets import load_secrets
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from greenlight.core.startup import bind_problem, retry_with_backoff
from greenlight.core.trace import decision_of_client_id, in_decision_trace, trace_middleware
from router import brackets, entries, lifecycle, liveness, metrics, store
from router.api import build_app
from router.brackets import RouteRefused
from router.config import RouterConfigError, futures_config, venue_config
from router.core import APPLY_ERRORS
from router.equity import EquityPublisher
from router.errors import EXPECTED_ANSWERS, RateLimitError, TemporaryError, VenueError
from router.guards import Guards
from router.killswitch import KillSwitch
from router.markets.desks import SPOT, TITLES, USDM
from router.markets.usdm import UsdmMarket
from router.reconcile import Reconciler
from router.usdm_service import UsdmWiring
from router.venue_watch import VenueWatch
from router.venues.base import ExecutionEvent
from router.venues.binance_http import BinanceRest, VenueConfig
from router.venues.binance_usdm_stream import KEEPALIVE_S
from router.venues.reconnect import ReconnectingStream
from router.wiring import Venues, build_venues, core_from_settings

log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 10.0
ENTRY_TTL_INTERVAL_S = 1.0


class RouterService:
    """One router: start it, let it run, stop it. It is handed its venues (built at the
    edge, :func:`router.wiring.build_venues`) and its clock."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, venues: Venues, clock: Clock
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.kill: KillSwitch | None = None
        self.venue = venues.spot
        self.stream = venues.stream
        self.venue.attach(self._observe, self._on_error)
        self.core = core_from_settings(settings, pool, venues, clock, venues.spot.name)
        self.usdm: UsdmWiring | None = None
        if venues.usdm is not None:
            venues.usdm.rest.attach(self._observe, self._on_error)
            market = self.core.market(USDM)
            assert isinstance(market, UsdmMarket)
            self.usdm = UsdmWiring(venues.usdm, self.core, market)
        g = settings.guards
        self.kill = KillSwitch(self.core, g.error_burst, g.error_window_s)
        self.guards = Guards(
            pool,
            self.kill.trip,
            (*settings.market.symbols, *settings.market.futures_symbols),
            settings.market.timeframe,
            TIMEFRAMES_MS[settings.market.timeframe],
            use_received_at=settings.venue.name in ("sim", "paper"),
            live=self._venue_live,
            clock=clock,
            drawdown_limit=g.daily_drawdown_limit,
            stale_timeframes=g.stale_timeframes,
        )
        self.watch = VenueWatch.of_markets(
            [(TITLES[name], venue, stream) for name, venue, stream in self.links()],
            g.user_stream_down_s,
            settings.router.request_timeout_s,
            self.kill.trip,
            self._trading,
            self._venue_alert,
            clock,
        )
        self.reconciler = Reconciler(self.core)
        self.equity = EquityPublisher(
            pool, {m.name: m.account_snapshot for m in self.core.markets.values()}
        )
        self.equity.after = self._check_guards  # a drawdown trips on the snapshot showing it
        if self.usdm is not None:
            self.usdm.after_fill = lambda: self.equity.publish(USDM)
        self._audit_queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(10_000)
        self._tasks: list[asyncio.Task[Any]] = []
        self._short: set[asyncio.Task[None]] = set()
        self._ban_alerted = False
        self._audit_backoff = Backoff("router audit")
        self.started_at = now_s(clock)
        metrics.watch_router(self)

    def links(self) -> list[tuple[str, BinanceRest, ReconnectingStream]]:
        """Each market's label, REST adapter and user stream (watched and measured)."""
        found: list[tuple[str, BinanceRest, ReconnectingStream]] = [(SPOT, self.venue, self.stream)]
        if self.usdm is not None:
            found.append((USDM, self.usdm.venue, self.usdm.stream))
        return found

    async def _observe(
        self, method: str, path: str, params: dict[str, str], status: int | None, body: Any
    ) -> None:
        detail = {
            "method": method,
            "path": path,
            "params": params,
            "status": status,
            "response": body,
        }
        try:
            self._audit_queue.put_nowait(("venue." + method.lower(), detail))
        except asyncio.QueueFull:
            metrics.audit_dropped()

    def _on_error(self, exc: VenueError) -> None:
        metrics.venue_error(exc)
        if isinstance(exc, EXPECTED_ANSWERS):  # the caller handles it as an outcome
            log.info("venue answered: %s", exc.describe())
            return
        self.core.note_error(exc.describe())
        if self.kill is not None:
            self.kill.record_error(exc)
        if isinstance(exc, RateLimitError) and exc.http_status == 418:
            self._banned(exc.retry_after)

    def _banned(self, seconds: float) -> None:
        """HTTP 418: the IP is banned. Nothing is sent on any market until Retry-After."""
        first = not self._ban_alerted
        self.venue.hold(seconds)
        if self.usdm is not None:
            self.usdm.venue.hold(seconds)
        if first:
            self._ban_alerted = True
            text = (
                f"⛔ Venue banned this IP (HTTP 418): all requests stopped for"
                f" {seconds:.0f}s (until Retry-After)"
            )
            self.spawn(self.core.alert("ban", text, None))
            self.spawn(self._ban_over(seconds))

    async def _ban_over(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        for _ in range(10):  # a later 418 may have extended the hold
            if self.venue.held_for <= 0:
                break
            await asyncio.sleep(self.venue.held_for)
        self._ban_alerted = False
        await self.core.alert("ban", "▶️ Venue ban over: requests resumed", None)

    async def _audit_writer(self) -> None:
        while True:
            action, detail = await self._audit_queue.get()
            params = detail["params"]
            keys = ("newClientOrderId", "origClientOrderId", "listClientOrderId", "clientAlgoId")
            cid = next((params[k] for k in keys if k in params), "")
            parts = cid.split("-")
            decision = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
            try:  # kept in order through a database restart
                write = functools.partial(self.core.audit, action, decision, detail)
                await retry_while_unavailable(write, self._audit_backoff)
            except (asyncpg.PostgresError, OSError) as exc:
                log.error("audit write failed: %s", exc)

    async def start(self) -> None:
        """Start the venue, reconcile, then the background tasks."""
        self._tasks.append(asyncio.create_task(self._audit_writer(), name="audit"))
        self._tasks.append(asyncio.create_task(metrics.DbObserver(self.pool).run(), name="metrics"))
        await self._start_venue()
        # A venue that is busy or banning (5xx, 429, 418) while the router catches up waits it
        # out instead of ending the router (and, under `up`, the whole system).
        await retry_with_backoff(
            f"venue {self.venue.name} (start-up reconciliation)",
            self._catch_up,
            (TemporaryError,),
            "The venue is busy or rate-limiting; the router reads it again after the pause.",
        )
        self._tasks += [
            asyncio.create_task(self.stream.run(self._on_event, self._on_stream_up), name="user"),
            asyncio.create_task(self._watch(), name="stream-watch"),
            asyncio.create_task(self._sweeper(), name="sweep"),
            asyncio.create_task(self._periodically(), name="reconcile"),
            asyncio.create_task(self._entry_ttl(), name="entry-ttl"),
            asyncio.create_task(self.equity.run(), name="equity"),
            asyncio.create_task(self.guards.run(), name="guards"),
        ]
        if self.usdm is not None:
            self._tasks.append(
                asyncio.create_task(self.usdm.run_stream(self._on_stream_up), name="usdm-user")
            )

    async def _catch_up(self) -> None:
        """Rules, account set-up, reconciliation, equity, stuck decisions and the approvals
        waiting: everything the router reads from the venue before it serves (each step may
        run again)."""
        spot = self.core.market(SPOT)
        for symbol in self.settings.market.symbols:
            await spot.rules(symbol)
        if self.usdm is not None:
            await self.usdm.start(self.settings.market.futures_symbols)
        await self.reconciler.run()
        await self.equity.publish()
        await self.unstick()
        await self.sweep()

    async def _start_venue(self) -> None:
        """Connect to the venue, waiting for it (capped back-off, one line per try) while it
        is not reachable yet."""
        what = f"venue {self.venue.name} at {self.venue.config.rest_url}"
        hint = "Is it running (`greenlight sim` for the simulator)? Check venue.* settings."
        await retry_with_backoff(what, self.venue.start, (TemporaryError,), hint)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a short-lived task, kept referenced until it finishes."""
        task = asyncio.create_task(coro)
        self._short.add(task)
        task.add_done_callback(self._short.discard)

    async def _check_guards(self) -> None:
        try:
            await self.guards.check_once()
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("guard check failed: %s", exc)

    async def _trading(self) -> bool:
        async with self.pool.acquire() as conn:
            return await store.trading_enabled(conn)

    async def _venue_alert(self, text: str) -> None:
        await self.core.alert("venue", text, None)

    def _venue_live(self) -> bool:
        return self.stream.connected and (self.usdm is None or self.usdm.stream.connected)

    async def _watch(self) -> None:
        """Heartbeats on every REST API and user stream; trip when one stays silent."""
        await self.watch.run()

    async def _on_event(self, event: ExecutionEvent) -> None:
        try:
            did = decision_of_client_id(event.client_order_id)
            work = lifecycle.on_execution(self.core, event)
            await (in_decision_trace(self.pool, did, work) if did is not None else work)
        except APPLY_ERRORS as exc:
            self.core.note_unapplied(event.client_order_id, exc)
        if event.fill is not None:  # the account changed: equity from a fresh snapshot
            await self.equity.publish(SPOT)

    async def _on_stream_up(self) -> None:
        if self.reconciler.runs:
            try:  # a failed pass must not stop the stream: the periodic pass repeats it
                await self.reconciler.run()
            except APPLY_ERRORS as exc:
                log.warning("reconciliation on user-stream (re)connect failed: %s", exc)
        else:
            await self.reconciler.run()

    async def catch_up(self) -> None:
        """After a database restart: apply what the user streams reported meanwhile (their
        handlers could not write it), give waiting states their way out, route approvals
        notified meanwhile. Failures are noted, never raised."""
        try:
            await self.reconciler.run()
        except Exception as exc:  # the periodic pass tries again
            self.core.note_error(f"reconciliation after the database restart failed: {exc!r}")
        await self.unstick()
        try:
            await self.sweep()
        except Exception as exc:  # the sweeper tries again
            self.core.note_error(f"sweep after the database restart failed: {exc!r}")

    async def sweep(self) -> None:
        """Route every APPROVED unexpired decision (the claim makes this exactly-once)."""
        async with self.pool.acquire() as conn:
            ids = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM decisions WHERE state = 'APPROVED' AND expires_at > now()"
                    " ORDER BY id"
                )
            ]
        for decision_id in ids:
            await self.route_quietly(decision_id)

    async def route_quietly(self, decision_id: int) -> None:
        """Route from a NOTIFY or a sweep; refusals are logged, not raised."""
        try:
            await in_decision_trace(self.pool, decision_id, brackets.route(self.core, decision_id))
        except RouteRefused as exc:
            log.info("decision %s not routed: %s", decision_id, exc.reason)
        except Exception as exc:  # one decision's failure never stops the sweep
            self.core.note_error(f"routing #D-{decision_id}: {exc!r}")

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.sweep()
            except Exception as exc:  # a background loop must survive any one failure
                self.core.note_error(f"sweep failed: {exc!r}")

    async def _periodically(self) -> None:
        """Every ``router.reconcile_interval_s``: read every live decision's orders from the
        venue and apply what the user stream missed (a lost event causes no reconnect), then
        give every waiting state its way out. Passes start one grace period early, so what
        was missed is applied within the interval."""
        interval, grace = self.settings.router.reconcile_interval_s, self.reconciler.grace_s
        while True:
            await asyncio.sleep(max(interval - grace, grace))
            try:
                await self.reconciler.periodic()
            except Exception as exc:  # a background loop must survive any one failure
                self.core.note_error(f"periodic reconciliation failed: {exc!r}")
            await self.unstick()

    async def unstick(self) -> None:
        """Expire PENDING/APPROVED decisions past their TTL (telling the approver) and fail
        ROUTED ones with nothing on the venue after ``router.routed_timeout_s``."""
        try:
            await liveness.expire_due(self.core)
            await liveness.fail_unrouted(self.core)
        except Exception as exc:  # a background loop must survive any one failure
            self.core.note_error(f"liveness check failed: {exc!r}")

    async def _entry_ttl(self) -> None:
        """Every second: cancel the unfilled remainder of entries whose decision expired, and
        read working entries from the venue (fills the user stream missed are exposure)."""
        while True:
            await asyncio.sleep(ENTRY_TTL_INTERVAL_S)
            try:
                await entries.expire_entries(self.core)
                await entries.refresh_entries(self.core)
            except Exception as exc:  # a background loop must survive any one failure
                self.core.note_error(f"entry TTL check failed: {exc!r}")

    async def state(self) -> dict[str, Any]:
        """What ``GET /v1/state`` shows."""
        async with self.pool.acquire() as conn:
            enabled = await store.trading_enabled(conn)
            live = await store.live_decisions(conn)
            ids = [d["id"] for d in live]
            orders = await conn.fetch(
                "SELECT decision_id, client_order_id, leg, order_type, status, quantity,"
                " filled_quantity, price, stop_price FROM orders"
                " WHERE decision_id = ANY($1::bigint[]) ORDER BY id",
                ids,
            )
            positions = await conn.fetch("SELECT * FROM positions WHERE state = 'OPEN'")
        return {
            "trading_enabled": enabled,
            "decisions": [brackets.decision_view(d) for d in live],
            "orders": [dict(o) for o in orders],
            "positions": [
                {k: v for k, v in dict(p).items() if not k.endswith("_at")} for p in positions
            ],
            "venue": {
                "name": self.venue.name,
                "user_stream_connected": self.stream.connected,
                "user_stream_reconnects": self.stream.reconnects,
                "user_stream_error": self.stream.last_error,
                "user_messages_handled": self.stream.messages_handled,
                "time_offset_ms": self.venue.time_offset_ms,
                "used_weight_1m": self.venue.used_weight,
                "reconciliations": self.reconciler.runs,
            },
            "reconcile": self.reconciler.view()
            | {"interval_s": self.settings.router.reconcile_interval_s},
            USDM: self.usdm.state() if self.usdm else None,
            "venue_watch": self.watch.state(),
            "last_errors": [{"at": at, "error": e} for at, e in list(self.core.errors)[-10:]],
        }

    async def stop(self) -> None:
        """Cancel background tasks and close the venue."""
        for task in [*self._tasks, *self._short]:
            task.cancel()
        for task in [*self._tasks, *self._short]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.venue.close()
        if self.usdm is not None:
            await self.usdm.close()


async def _listen(db_url: str, service: RouterService) -> ResilientListener:
    """LISTEN gl_approved; after a database restart it listens again and catches up."""

    def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
        decision_id = notified_id(payload)
        if decision_id is not None:
            service.spawn(service.route_quietly(decision_id))

    def on_reconnect() -> None:
        service.spawn(service.catch_up())

    listener = ResilientListener(
        db_url, (NotifyChannel.APPROVED,), on_notify, on_reconnect, "router"
    )
    await listener.start()
    service.spawn(listener.run())
    return listener


async def serve_router(
    settings: Settings,
    db_url: str,
    token: str,
    ready: asyncio.Event | None = None,
    config: VenueConfig | None = None,
    futures: VenueConfig | None = None,
    keepalive_s: float = KEEPALIVE_S,
    clock: Clock | None = None,
) -> None:
    """Run the router until cancelled. ``config``/``futures`` override settings/secrets;
    ``keepalive_s`` is the listen-key keepalive period (shortened by tests)."""
    if not token:
        raise RouterConfigError("GREENLIGHT_ROUTER_TOKEN is empty; the router needs a token")
    if config is None:
        secrets = load_secrets()
        config = venue_config(settings, secrets)
        futures = futures or futures_config(settings, secrets)
    pool = await connect_pool(db_url, settings.database.pool_size + 3)
    clock = clock or SystemClock()
    venues = build_venues(config, futures, keepalive_s, clock)
    service = RouterService(settings, pool, venues, clock)
    runner: web.AppRunner | None = None
    listener: ResilientListener | None = None
    try:
        await service.start()
        assert service.kill is not None
        app = build_app(service.core, service.kill, service.state, token)
        app.middlewares.append(trace_middleware(pool))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = settings.router.host, settings.router.port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise bind_problem(exc, host, port, "router.port") or exc from None
        listener = await _listen(db_url, service)
        if ready is not None:
            ready.set()
        mark_ready()
        await asyncio.Event().wait()
    finally:
        if listener is not None:
            await listener.close()
        if runner is not None:
            await runner.cleanup()
        await service.stop()
        await pool.close()


def run_router(settings: Settings) -> int:
    """Entry point for ``greenlight router``: run until SIGINT/SIGTERM; return an exit code."""
    secrets = load_secrets()
    token = secrets.get("GREENLIGHT_ROUTER_TOKEN")
    if token is None:
        log.error("GREENLIGHT_ROUTER_TOKEN is not set")
        return 2
    try:
        config = venue_config(settings, secrets)
        futures = futures_config(settings, secrets)
    except RouterConfigError as exc:
        log.error("%s", exc)
        return 2

    async def main() -> None:
        await serve_router(
            settings, database_url(settings), token.value, config=config, futures=futures
        )

    try:
        run_until_signalled(main, OpsServer.for_process(settings, "router"))
    except (VenueError, RouterConfigError, DatabaseError, OSError) as exc:
        log.error("router stopped: %s", exc)
        return 1
    return 0
