"""Simulator lifecycle: configuration, start/stop, and the ``greenlight sim`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.candlefile import CandleArrays, read_candles
from sim.admin import status_of
from sim.filters import rules_for
from sim.matching import Exchange
from sim.replay import Replay
from sim.rest import build_app
from sim.state import SimState

if TYPE_CHECKING:
    from engine.settings import Settings

TF_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


@dataclass(frozen=True)
class SimAccount:
    """API secret and starting free balances of one simulated account."""

    secret: str
    balances: Mapping[str, Decimal]


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
    ws_ping_interval: float = 20.0

    def __post_init__(self) -> None:
        if self.tf not in TF_MS:
            raise ValueError(f"tf {self.tf!r} is not one of {', '.join(TF_MS)}")
        if not self.files:
            raise ValueError("files needs at least one symbol → candle file")
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


class SimServer:
    """A running simulator on one loopback port (REST, streams, WS-API, admin)."""

    def __init__(self, config: SimConfig, candles: Mapping[str, CandleArrays] | None = None):
        self.config = config
        self._candles = dict(candles) if candles is not None else None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0
        self.state: SimState | None = None

    def _build_state(self, candles: Mapping[str, CandleArrays]) -> SimState:
        cfg = self.config
        rules = {}
        for symbol, arr in candles.items():
            rules[symbol] = rules_for(symbol, arr.close[:: max(1, len(arr) // 2000)].tolist())
        exchange = Exchange(rules, cfg.commission)
        for key, acct in cfg.accounts.items():
            exchange.add_account(key, acct.balances)
        replay = Replay(
            candles,
            TF_MS[cfg.tf],
            history_candles=cfg.history_candles,
            start_index=cfg.start_index,
            candles_per_second=cfg.candles_per_second,
            updates_per_candle=cfg.updates_per_candle,
            max_candles=cfg.max_candles,
            start_paused=cfg.start_paused,
            price_decimals={s: r.price_decimals for s, r in rules.items()},
        )
        secrets = {k: a.secret for k, a in cfg.accounts.items()}
        return SimState(replay, exchange, candles, cfg.tf, TF_MS[cfg.tf], secrets)

    async def start(self) -> None:
        """Load the candles, bind the port and start the replay clock."""
        candles = self._candles
        if candles is None:
            files = dict(self.config.files)
            loaded = await asyncio.to_thread(lambda: {s: read_candles(p) for s, p in files.items()})
            candles = loaded
        self.state = self._build_state(candles)
        app = build_app(self.state, self.config.ws_ping_interval)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._task = asyncio.create_task(self.state.replay.run(), name="sim-replay")

    async def stop(self) -> None:
        """Stop the replay and close every connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.state is not None:
            self.state.market.drop_all()
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
        """Pause the replay clock."""
        self._require_state().replay.pause()

    def resume(self) -> None:
        """Resume the replay clock."""
        self._require_state().replay.resume()

    def status(self) -> dict[str, Any]:
        """Same document as ``GET /sim/admin/status``."""
        return status_of(self._require_state())


def _symbol_of(path: Path, fallback: str) -> str:
    head = path.name.split("-")[0].upper()
    return head if head.isalnum() and len(head) > 4 else fallback


def sim_config_from_settings(settings: Settings, api_key: str, api_secret: str) -> SimConfig:
    """The simulator configuration described by ``settings.sim`` / ``settings.market``."""
    s = settings.sim
    path = settings.resolve_path(s.data_file)
    return SimConfig(
        host=s.host,
        port=s.port,
        tf=settings.market.timeframe,
        files={_symbol_of(path, settings.market.symbols[0]): path},
        history_candles=s.history_candles,
        start_index=s.start_index,
        candles_per_second=s.candles_per_second,
        updates_per_candle=s.updates_per_candle,
        max_candles=s.max_candles or None,
        accounts={api_key: SimAccount(api_secret, {"USDT": s.start_balance_usdt})},
    )


def run_sim(settings: Settings, port: int | None, api_key: str, api_secret: str) -> int:
    """Serve the simulator until SIGINT/SIGTERM; returns the process exit code."""
    config = sim_config_from_settings(settings, api_key, api_secret)
    if port is not None:
        config = SimConfig(**{**config.__dict__, "port": port})

    async def main() -> None:
        server = SimServer(config)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(
            f"sim: REST {server.base_url}/api/v3  streams {server.ws_url}/ws  "
            f"symbols {','.join(config.files)}",
            flush=True,
        )
        await stop.wait()
        await server.stop()

    asyncio.run(main())
    return 0
