"""Paper venue lifecycle: configuration, start/stop, and the ``greenlight paper`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from greenlight.core.ops_http import OpsServer, with_ops
from greenlight.core.readiness import mark_ready
from greenlight.core.settings import TIMEFRAMES_MS
from greenlight.core.startup import StartupError, bind_problem, retry_with_backoff
from sim.paper.exchange import PaperExchange
from sim.paper.feed import LiveFeed
from sim.paper.frames import FrameError
from sim.paper.metrics import watch_paper
from sim.paper.rest import build_paper_app
from sim.paper.rules import RulesError, rules_from_info
from sim.paper.state import PaperState
from sim.paper.upstream import Upstream, UpstreamBusy, UpstreamError
from sim.slippage import Slippage

if TYPE_CHECKING:
    from greenlight.core.settings import Settings


@dataclass(frozen=True)
class PaperConfig:
    """Everything that defines one paper venue."""

    market_url: str
    symbols: tuple[str, ...]
    intervals: tuple[str, ...]  # kline intervals followed, finest first (it moves prices)
    range_interval: str  # the candle whose range the slippage model reads
    api_key: str
    api_secret: str
    balances: Mapping[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(10000)})
    market_ws_url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    commission: Decimal = Decimal("0.001")
    slippage: Slippage = Slippage()
    history: int = 1000
    poll_s: float = 1.0
    ws_ping_interval: float = 20.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols needs at least one symbol")
        bad = [i for i in (*self.intervals, self.range_interval) if i not in TIMEFRAMES_MS]
        if bad or not self.intervals:
            raise ValueError(f"intervals {bad or '()'}: not among {', '.join(TIMEFRAMES_MS)}")
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"host {self.host!r}: the paper venue binds to loopback only")


class PaperServer:
    """A running paper venue on one loopback port."""

    def __init__(self, config: PaperConfig) -> None:
        self.config = config
        self.state: PaperState | None = None
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0

    async def connect_source(self) -> PaperState:
        """Read the source's rules, clock and recent klines and build the venue's state."""
        cfg = self.config
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        upstream = Upstream(self._http, cfg.market_url, cfg.market_ws_url)
        feed = LiveFeed(
            upstream, cfg.symbols, cfg.intervals, cfg.range_interval, cfg.history, cfg.poll_s
        )
        info = await upstream.exchange_info(cfg.symbols)
        rules = {s: rules_from_info(info, s) for s in cfg.symbols}
        await feed.start()
        exchange = PaperExchange(rules, cfg.commission, cfg.slippage, feed.bar_range)
        exchange.add_account(cfg.api_key, cfg.balances)
        return PaperState(feed, exchange, cfg.market_url)

    async def start(self, state: PaperState | None = None) -> None:
        """Connect to the source (unless ``state`` is given), bind the port, follow it."""
        self.state = state or await self.connect_source()
        cfg = self.config
        app = build_paper_app(self.state, {cfg.api_key: cfg.api_secret}, cfg.ws_ping_interval)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.host, self.config.port).start()
        self._port = int(self._runner.addresses[0][1])
        self._task = asyncio.create_task(self.state.feed.run(), name="paper-feed")

    async def stop(self) -> None:
        """Stop following the source and close every connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.state is not None:
            self.state.market.drop_all()
            self.state.users.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def wait(self) -> None:
        """Until the feed stops following the source: it only does on an error (raised)."""
        if self._task is not None:
            await self._task

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host = "[::1]" if self.config.host == "::1" else self.config.host
        return f"http://{host}:{self._port}"


def paper_config_from_settings(settings: Settings, api_key: str, api_secret: str) -> PaperConfig:
    """The paper venue ``settings.venue.paper`` describes, for ``market.symbols`` on
    ``market.timeframe`` (and ``market.sub_timeframe``)."""
    p, m = settings.venue.paper, settings.market
    intervals = sorted({m.timeframe, m.sub_timeframe} - {""}, key=TIMEFRAMES_MS.__getitem__)
    return PaperConfig(
        market_url=p.market_url,
        market_ws_url=p.market_ws_url,
        symbols=m.symbols,
        intervals=tuple(intervals),
        range_interval=m.timeframe,
        api_key=api_key,
        api_secret=api_secret,
        balances={"USDT": p.start_balance_usdt},
        host=p.host,
        port=p.port,
        commission=p.commission_rate,
        slippage=Slippage(p.slippage_bps, p.slippage_range_fraction),
        history=p.history_candles,
        poll_s=p.clock_poll_s,
    )


def run_paper(settings: Settings, port: int | None, api_key: str, api_secret: str) -> int:
    """Serve the paper venue until SIGINT/SIGTERM; returns the process exit code."""
    config = paper_config_from_settings(settings, api_key, api_secret)
    if port is not None:
        config = replace(config, port=port)

    async def main() -> None:
        server = PaperServer(config)
        watch_paper(server)
        try:
            await _serve(server)
        finally:
            await server.stop()

    try:
        asyncio.run(with_ops(OpsServer.for_process(settings, "paper"), main()))
    except (StartupError, UpstreamError, RulesError) as exc:
        print(f"greenlight paper: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(server: PaperServer) -> None:
    """Connect to the source (retried while it cannot answer), bind, follow it until
    SIGINT/SIGTERM; a feed that stops following raises instead of going unnoticed."""
    config = server.config
    state = await retry_with_backoff(
        f"market-data source {config.market_url}",
        server.connect_source,
        (aiohttp.ClientError, OSError, TimeoutError, UpstreamBusy, FrameError),
        "Check venue.paper.market_url (and venue.paper.market_ws_url).",
    )
    try:
        await server.start(state)
    except OSError as exc:
        raise bind_problem(exc, config.host, config.port, "venue.paper.port") or exc from None
    mark_ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"paper: spot REST {server.base_url}/api/v3  streams "
        f"{server.base_url.replace('http', 'ws', 1)}/ws  symbols {','.join(config.symbols)}"
        f" {'/'.join(config.intervals)}; market data from {config.market_url}",
        flush=True,
    )
    stopped = asyncio.create_task(stop.wait())
    feed = asyncio.create_task(server.wait())
    try:
        await asyncio.wait({stopped, feed}, return_when=asyncio.FIRST_COMPLETED)
        if feed.done():
            feed.result()
    finally:
        stopped.cancel()
        feed.cancel()
