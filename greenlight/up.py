"""``greenlight up``: the whole system on this machine, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from greenlight.core.db import database_url, migrate
from greenlight.core.modes import mode_headline
from greenlight.core.settings import Settings
from greenlight.core.startup import StartupError, port_problem
from greenlight.core.venue_urls import venue_endpoints
from greenlight.procs import ProcessGroup, child_env, router_token, wait_port


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run_up(settings: Settings, settings_path: str | None) -> int:
    """Start every process the settings ask for and supervise them; return the exit code."""
    check_ports(settings)
    url = database_url(settings)  # starts the embedded server when no URL is configured
    asyncio.run(migrate(url))
    group = ProcessGroup(
        child_env(url, router_token(os.environ), quiet_logs(settings)), settings_path
    )
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    code = 0
    try:
        if settings.venue.name == "sim":
            sim = group.start("sim")
            wait_port(settings.sim.host, settings.sim.port, 30, sim)
        if settings.venue.name == "paper":  # it first reads the market-data source
            paper = group.start("paper")
            wait_port(settings.venue.paper.host, settings.venue.paper.port, 120, paper)
        router = group.start("router")
        wait_port(settings.router.host, settings.router.port, 30, router)
        group.start("engine")
        bot = group.start("bot", "bot", stdin=subprocess.PIPE)
        _forward_stdin(bot)
        print(banner(settings, url), flush=True)
        while not (dead := group.dead()):
            time.sleep(0.2)
        for name, rc in dead:
            print(f"greenlight: {name} exited with code {rc}; stopping everything", file=sys.stderr)
        code = 1
    except _Stop as stop:
        print(f"\ngreenlight: {stop} received, stopping…", file=sys.stderr)
    except RuntimeError as exc:
        print(f"greenlight: {exc}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        group.stop()
    return code


def quiet_logs(settings: Settings) -> dict[str, str]:
    """With the console chat on a terminal, the children's stderr shows warnings and errors
    only, so log lines do not interleave with the chat; everything is in var/log/*.jsonl."""
    if (
        "console" in settings.bot.channels
        and sys.stdout.isatty()
        and not settings.logs.stderr_level
    ):
        return {"GREENLIGHT_LOGS_STDERR_LEVEL": "WARNING"}
    return {}


def listen_ports(settings: Settings) -> list[tuple[str, int, str]]:
    """``(host, port, setting)`` of every port the processes ``up`` starts will listen on."""
    out: list[tuple[str, int, str]] = [(settings.router.host, settings.router.port, "router.port")]
    if settings.venue.name == "sim":
        out.insert(0, (settings.sim.host, settings.sim.port, "sim.port"))
    if settings.venue.name == "paper":
        p = settings.venue.paper
        out.insert(0, (p.host, p.port, "venue.paper.port"))
    m = settings.metrics
    for proc, port in metric_ports(settings):
        out.append((m.host, port, f"metrics.{proc}_port"))
    return out


def metric_ports(settings: Settings) -> list[tuple[str, int]]:
    """``(process, port)`` of each ``/metrics`` endpoint ``up`` starts (0-ports left out)."""
    m = settings.metrics
    venue = settings.venue.name
    procs: list[tuple[str, int]] = []
    if venue in ("sim", "paper"):
        procs.append((venue, getattr(m, f"{venue}_port")))
    procs += [("router", m.router_port), ("engine", m.engine_port), ("bot", m.bot_port)]
    return [(p, port) for p, port in procs if port]


def check_ports(settings: Settings) -> None:
    """Raise :class:`StartupError` naming the first busy port's setting, before anything
    starts (a process already listening there would otherwise be taken for ours)."""
    for host, port, setting in listen_ports(settings):
        problem = port_problem(host, port, setting)
        if problem:
            raise StartupError(problem)


def banner(settings: Settings, url: str) -> str:
    """The start-up banner: the mode first, in words a trader cannot misread."""
    ep = venue_endpoints(settings)
    where = url.split("?")[0] if "@" not in url else url.split("@")[-1]
    host = settings.metrics.host
    metrics = " · ".join(f"{p} http://{host}:{port}/metrics" for p, port in metric_ports(settings))
    return (
        "\nGreenlight is up.\n"
        f"  MODE      {mode_headline(settings.general.mode)}\n"
        f"  venue     {settings.venue.name} · {ep.rest}  (market streams {ep.market_ws})\n"
        f"{_paper_line(settings)}"
        f"  router    http://{settings.router.host}:{settings.router.port}/v1/state\n"
        f"  database  {where}\n"
        f"  chat      {', '.join(settings.bot.channels)} — decisions appear here; type "
        "'approve N', 'reject N', 'status', 'kill', 'help'\n"
        f"  metrics   {metrics or 'off'}\n"
        "  logs      JSON lines on stderr and in var/log/<process>.jsonl; chat on stdout\n"
        "  stop      Ctrl-C\n"
    )


def _paper_line(settings: Settings) -> str:
    """For the paper venue: where its market data comes from and where its records go."""
    if settings.venue.name != "paper":
        return ""
    p = settings.venue.paper
    return (
        f"  market    live data from {p.market_url} (public endpoints only; fills simulated"
        f" with {p.slippage_bps} bps + {p.slippage_range_fraction} × range slippage)\n"
        f"  records   database schema {p.db_schema!r}, apart from every other mode's\n"
    )


def _forward_stdin(proc: subprocess.Popen[bytes]) -> None:
    """Pass what is typed here to the bot (the console channel), line by line.

    The children run in their own sessions so that Ctrl-C reaches only this supervisor, which
    then stops them in order; so they cannot read the terminal themselves.
    """

    def pump() -> None:
        # os.read on the raw descriptor: a daemon thread blocked inside sys.stdin's buffered
        # reader would abort the interpreter at exit.
        assert proc.stdin is not None
        while chunk := os.read(0, 4096):
            try:
                proc.stdin.write(chunk)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return

    threading.Thread(target=pump, name="stdin-to-bot", daemon=True).start()
