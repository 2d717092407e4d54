"""Simulator lifecycle: configuration, start/stop, and the ``greenlight sim`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from greenlight.core.candlefile import CandleArrays, read_candles
from greenlight.core.ops_http import OpsServer, with_ops
from greenlight.core.readiness import mark_ready
from greenlight.core.startup import StartupError, bind_problem
from sim.admin import status_of
from sim.app import build_app
from sim.limits import RateLimiter
from sim.metrics import watch_sim
from sim.replay.clock import ClockMode, first_open, market_shift, shift_all, wall_ms
from sim.replay.intervals import TF_MS, plan_intervals, scaled_pacing
from sim.replay.player import Replay
from sim.replay.resample import file_interval_ms, resample
from sim.spot.filters import rules_for
from sim.spot.order_lists import ListExchange
from sim.spot.state import SpotState
from sim.state import SimState
from sim.usdm.setup import FuturesData, ReplayOptions, build_futures, load_futures
from sim.usdm.state import FutState
from sim.usdm.streams import expiry_loop

if TYPE_CHECKING:
    from greenlight.core.settings import Settings


@dataclass(frozen=True)
class SimAccount:
    """API secret, starting spot balances and USD-M wallet (USDT) of one account."""

    secret: str
    balances: Mapping[str, Decimal]
    futures_usdt: Decimal = Decimal(0)


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines one simulator run."""

    host: str = "127.0.0.1"
    port: int = 0
    tf: str = "15m"
    files: Mapping[str, Path] = field(default_factory=dict)
    history_candles: int = 600
    start_index: int = 0
    candles_per_second: float = 2.0
    updates_per_candle: int = 2
    max_candles: int | None = None
    start_paused: bool = False
    accounts: Mapping[str, SimAccount] = field(default_factory=dict)
    commission: Decimal = Decimal("0.001")
    ws_ping_interval: float = 20.0  # spot market streams and WS-API (Binance: 20 s)
    futures_ws_ping_interval: float = 180.0  # USD-M market and user streams (Binance: 3 min)
    ws_max_age: float = 86_400.0  # market connections are closed after this (Binance: 24 h)
    futures_files: Mapping[str, Path] = field(default_factory=dict)
    mark_files: Mapping[str, Path] = field(default_factory=dict)
    funding_files: Mapping[str, Path] = field(default_factory=dict)
    futures_leverage: int = 20
    listen_key_ttl: float = 3600.0
    weight_limits: tuple[int, int] = (6000, 2400)  # spot, USD-M request weight per minute
    ban_after: int = 5  # requests ignored while answered 429 before a 418 ban
    ban_seconds: float = 120.0  # first ban; doubles per ban up to 3 days
    sub_intervals: tuple[str, ...] = ()  # extra kline intervals, served where the data allows
    clock: ClockMode = "now"  # "now": today's calendar (sim/replay/clock.py); "historical"

    def __post_init__(self) -> None:
        if self.tf not in TF_MS:
            raise ValueError(f"tf {self.tf!r} is not one of {', '.join(TF_MS)}")
        if not self.files:
            raise ValueError("files needs at least one symbol → candle file")
        bad = [i for i in self.sub_intervals if i not in TF_MS]
        if bad:
            raise ValueError(f"sub_intervals {bad} are not among {', '.join(TF_MS)}")
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"host {self.host!r}: the simulator binds to loopback only")
        if self.updates_per_candle < 0 or self.history_candles < 0 or self.start_index < 0:
            raise ValueError("updates_per_candle, history_candles, start_index must be >= 0")
        if not self.candles_per_second > 0:
            raise ValueError("candles_per_second must be positive")
        if self.max_candles is not None and self.max_candles < 1:
            raise ValueError("max_candles must be >= 1 when set")
        if not Decimal(0) <= self.commission < 1:
            raise ValueError("commission must be in [0, 1)")
        if not 1 <= self.futures_leverage <= 125:
            raise ValueError("futures_leverage must be in [1, 125]")
        if min(*self.weight_limits, self.ban_after) < 1 or not self.ban_seconds > 0:
            raise ValueError("weight_limits, ban_after and ban_seconds must be positive")
        if not self.ws_max_age > 0 or not self.futures_ws_ping_interval > 0:
            raise ValueError("ws_max_age and futures_ws_ping_interval must be positive")
        if not self.listen_key_ttl > 0:
            raise ValueError("listen_key_ttl must be positive")
        for name in ("mark_files", "funding_files"):
            extra = set(getattr(self, name)) - set(self.futures_files)
            if extra:
                raise ValueError(f"{name} names symbols without a futures file: {sorted(extra)}")


class SimServer:
    """A running simulator on one loopback port (REST, streams, WS-API, admin)."""

    def __init__(self, config: SimConfig, candles: Mapping[str, CandleArrays] | None = None):
        self.config = config
        self._candles = dict(candles) if candles is not None else None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: list[asyncio.Task[None]] = []
        self._futures: FuturesData | None = None
        self._port = 0
        self.state: SimState | None = None

    def _build_state(self, candles: Mapping[str, CandleArrays]) -> SimState:
        cfg = self.config
        served, candles = _spot_intervals(cfg, candles)
        rules = {}
        for symbol, arr in candles.items():
            rules[symbol] = rules_for(symbol, arr.close[:: max(1, len(arr) // 2000)].tolist())
        exchange = ListExchange(rules, cfg.commission)
        for key, acct in cfg.accounts.items():
            exchange.add_account(key, acct.balances)
        cps, history, most = scaled_pacing(
            cfg.tf, served[0], cfg.candles_per_second, cfg.history_candles, cfg.max_candles
        )
        first_row = cfg.start_index + history
        shift = market_shift(cfg.clock, candles, first_row, wall_ms())
        spot_start = (first_open(candles, first_row) or 0) + shift
        candles = shift_all(candles, shift)
        replay = Replay(
            candles,
            TF_MS[served[0]],
            history_candles=history,
            start_index=cfg.start_index,
            candles_per_second=cps,
            updates_per_candle=cfg.updates_per_candle,
            max_candles=most,
            start_paused=cfg.start_paused,
            price_decimals={s: r.price_decimals for s, r in rules.items()},
            shift_ms=shift,
        )
        spot = SpotState(replay, exchange, candles, served[0], TF_MS[served[0]], served)
        futures = None
        if self._futures is not None:
            futures = self._build_futures(self._futures, spot_start)
        secrets = {k: a.secret for k, a in cfg.accounts.items()}
        limiter = RateLimiter(*cfg.weight_limits, cfg.ban_after, cfg.ban_seconds)
        return SimState(spot, futures, secrets, limiter)

    def _build_futures(self, data: FuturesData, spot_start_ms: int) -> FutState:
        cfg = self.config
        base = data.served[0] if data.served else cfg.tf
        cps, history, most = scaled_pacing(
            cfg.tf, base, cfg.candles_per_second, cfg.history_candles, cfg.max_candles
        )
        opts = ReplayOptions(
            TF_MS[base], base, history, cps, cfg.updates_per_candle, most, cfg.start_paused
        )
        wallets = {k: a.futures_usdt for k, a in cfg.accounts.items()}
        return build_futures(
            data, opts, wallets, cfg.futures_leverage, cfg.listen_key_ttl, cfg.clock, spot_start_ms
        )

    async def start(self) -> None:
        """Load the candles, bind the port and start the replay clock."""
        candles = self._candles
        if candles is None:
            files = dict(self.config.files)
            loaded = await asyncio.to_thread(lambda: {s: read_candles(p) for s, p in files.items()})
            candles = loaded
        cfg = self.config
        if cfg.futures_files and self._futures is None:
            self._futures = await asyncio.to_thread(
                load_futures,
                cfg.futures_files,
                cfg.mark_files,
                cfg.funding_files,
                cfg.tf,
                cfg.sub_intervals,
            )
        self.state = self._build_state(candles)
        app = build_app(
            self.state, cfg.ws_ping_interval, cfg.ws_max_age, cfg.futures_ws_ping_interval
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._task = asyncio.create_task(self.state.spot.replay.run(), name="sim-replay")
        fut = self.state.futures
        if fut is not None:
            every = min(1.0, self.config.listen_key_ttl / 4)
            self._side_tasks = [
                asyncio.create_task(fut.replay.run(), name="sim-futures-replay"),
                asyncio.create_task(expiry_loop(fut, every), name="sim-listen-keys"),
            ]

    async def stop(self) -> None:
        """Stop the replay and close every connection."""
        tasks = [t for t in (self._task, *self._side_tasks) if t is not None]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task, self._side_tasks = None, []
        if self.state is not None:
            self.state.spot.market.drop_all()
            if self.state.futures is not None:
                self.state.futures.market.drop_all()
                self.state.futures.drop_users()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (REST base; spot paths start with ``/api/v3``)."""
        return f"http://{self._host()}:{self._port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT`` (``/ws/<stream>``, ``/stream?streams=``, ``/ws-api/v3``)."""
        return f"ws://{self._host()}:{self._port}"

    def _host(self) -> str:
        return "[::1]" if self.config.host == "::1" else self.config.host

    def _require_state(self) -> SimState:
        if self.state is None:
            raise RuntimeError("SimServer.start() has not been awaited")
        return self.state

    def pause(self) -> None:
        """Pause the replay clocks (spot and futures)."""
        for r in self._require_state().replays():
            r.pause()

    def resume(self) -> None:
        """Resume the replay clocks (spot and futures)."""
        for r in self._require_state().replays():
            r.resume()

    def advance(self, ms: int) -> None:
        """Move every market clock ``ms`` on at once, paused or not (as
        ``POST /sim/admin/advance``)."""
        for r in self._require_state().replays():
            r.advance(ms)

    def status(self) -> dict[str, Any]:
        """Same document as ``GET /sim/admin/status``."""
        return status_of(self._require_state())


def _spot_intervals(
    cfg: SimConfig, candles: Mapping[str, CandleArrays]
) -> tuple[tuple[str, ...], dict[str, CandleArrays]]:
    """Intervals the spot replay serves and its candles at the first (base) of them."""
    if not cfg.sub_intervals:
        return (cfg.tf,), dict(candles)  # the files are replayed as given
    try:
        file_ms = {s: file_interval_ms(a) for s, a in candles.items()}
        served = plan_intervals(file_ms, cfg.tf, cfg.sub_intervals)
        return served, {s: resample(a, TF_MS[served[0]]) for s, a in candles.items()}
    except ValueError as exc:
        raise ValueError(f"spot candle file: {exc}") from exc


def _symbol_of(path: Path, fallback: str) -> str:
    head = path.name.split("-")[0].upper()
    return head if head.isalnum() and len(head) > 4 else fallback


def sim_config_from_settings(settings: Settings, api_key: str, api_secret: str) -> SimConfig:
    """The simulator configuration described by ``settings.sim`` / ``settings.market``:
    spot from ``sim.data_file``, USD-M from ``sim.futures_*_file`` (symbol: the first of
    ``market.futures_symbols``, else the file name's), one account with both balances."""
    s = settings.sim
    path = settings.resolve_path(s.data_file)
    futures: dict[str, Path] = {}
    marks: dict[str, Path] = {}
    funding: dict[str, Path] = {}
    if s.futures_data_file:
        fpath = settings.resolve_path(s.futures_data_file)
        fsym = (settings.market.futures_symbols or (_symbol_of(fpath, "XRPUSDT"),))[0]
        futures[fsym] = fpath
        if s.futures_mark_file:
            marks[fsym] = settings.resolve_path(s.futures_mark_file)
        if s.futures_funding_file:
            funding[fsym] = settings.resolve_path(s.futures_funding_file)
    account = SimAccount(api_secret, {"USDT": s.start_balance_usdt}, s.futures_start_balance_usdt)
    sub = str(getattr(settings.market, "sub_timeframe", "") or "")
    return SimConfig(
        sub_intervals=(sub,) if sub else (),
        host=s.host,
        port=s.port,
        tf=settings.market.timeframe,
        files={_symbol_of(path, settings.market.symbols[0]): path},
        history_candles=s.history_candles,
        start_index=s.start_index,
        candles_per_second=s.candles_per_second,
        updates_per_candle=s.updates_per_candle,
        max_candles=s.max_candles or None,
        accounts={api_key: account},
        futures_files=futures,
        mark_files=marks,
        funding_files=funding,
        clock=s.clock,
    )


def parse_file_options(items: Sequence[str], option: str) -> dict[str, Path]:
    """``SYMBOL=PATH`` command-line values as a mapping (``ValueError`` names the bad one)."""
    out: dict[str, Path] = {}
    for item in items:
        symbol, sep, path = item.partition("=")
        if not sep or not symbol.isalnum() or not path:
            raise ValueError(f"{option} {item!r}: expected SYMBOL=PATH, e.g. XRPUSDT=data/x.csv")
        if not Path(path).exists():
            raise ValueError(f"{option} {item!r}: no such file {path}")
        out[symbol.upper()] = Path(path)
    return out


@dataclass(frozen=True)
class SimOverrides:
    """Command-line replacements for the settings' data files and markets."""

    spot_files: Sequence[str] = ()
    futures_files: Sequence[str] = ()
    mark_files: Sequence[str] = ()
    funding_files: Sequence[str] = ()
    markets: str = "spot,futures"
    paused: bool = False

    def apply(self, config: SimConfig) -> SimConfig:
        """``config`` with the overrides applied (``ValueError`` for bad values)."""
        markets = {m.strip() for m in self.markets.split(",") if m.strip()}
        if not markets <= {"spot", "futures"} or "spot" not in markets:
            raise ValueError(f"--markets {self.markets!r}: 'spot' or 'spot,futures'")
        changes: dict[str, Any] = {}
        if self.spot_files:
            changes["files"] = parse_file_options(self.spot_files, "--spot-file")
        if self.futures_files:
            changes["futures_files"] = parse_file_options(self.futures_files, "--futures-file")
            changes["mark_files"] = parse_file_options(self.mark_files, "--mark-file")
            changes["funding_files"] = parse_file_options(self.funding_files, "--funding-file")
        if "futures" not in markets:
            changes |= {"futures_files": {}, "mark_files": {}, "funding_files": {}}
        if self.paused:
            changes["start_paused"] = True
        return replace(config, **changes)


def run_sim(
    settings: Settings,
    port: int | None,
    api_key: str,
    api_secret: str,
    overrides: SimOverrides | None = None,
) -> int:
    """Serve the simulator until SIGINT/SIGTERM; returns the process exit code."""
    config = sim_config_from_settings(settings, api_key, api_secret)
    try:
        config = (overrides or SimOverrides()).apply(config)
        if port is not None:
            config = replace(config, port=port)
    except ValueError as exc:
        print(f"greenlight sim: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        server = SimServer(config)
        watch_sim(server)
        try:
            await server.start()
        except OSError as exc:
            raise bind_problem(exc, config.host, config.port, "sim.port") or exc from None
        mark_ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        futures = ",".join(config.futures_files) or "none"
        print(
            f"sim: spot REST {server.base_url}/api/v3  streams {server.ws_url}/ws  "
            f"symbols {','.join(config.files)}; USD-M REST {server.base_url}/fapi  "
            f"streams {server.ws_url}/market/ws  user {server.ws_url}/private/ws  "
            f"symbols {futures}",
            flush=True,
        )
        await stop.wait()
        await server.stop()

    try:
        asyncio.run(with_ops(OpsServer.for_process(settings, "sim"), main()))
    except StartupError as exc:
        print(f"greenlight sim: {exc}", file=sys.stderr)
        return 2
    return 0
