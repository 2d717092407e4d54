"""The ``greenlight`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from greenlight.core.db import DatabaseError
from greenlight.core.logs import configure_logging
from greenlight.core.secrets import Secret, SecretsError, load_secrets
from greenlight.core.settings import Settings, SettingsError, load_settings
from greenlight.core.startup import StartupError
from greenlight.lifeline import bind_to_supervisor


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="greenlight", description=__doc__)
    p.add_argument("--settings", help="settings TOML file (default: ./settings.toml)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start database, sim, engine, router and bot; Ctrl-C stops all")
    demo = sub.add_parser("demo", help="unattended replay with a JSON report")
    demo.add_argument("--candles", type=int, default=5000)
    demo.add_argument("--auto-approve", action="store_true")
    demo.add_argument("--report", default="demo-report.json")
    demo.add_argument("--speed", type=float, default=150.0, help="candles per second")
    demo.add_argument("--timeout", type=float, default=600.0, help="give up after N seconds")
    demo.add_argument("--keep", action="store_true", help="keep logs and charts afterwards")
    demo.add_argument(
        "--futures",
        default="XRPUSDT",
        help="USD-M symbols to trade alongside spot, comma-separated ('' for none)",
    )
    sim = sub.add_parser("sim", help="the Binance-compatible simulator alone")
    sim.add_argument("--port", type=int)
    sim.add_argument("--api-key")
    sim.add_argument("--api-secret")
    sim.add_argument(
        "--spot-file",
        action="append",
        default=[],
        metavar="SYMBOL=PATH",
        help="spot candle file (repeatable; replaces settings sim.data_file)",
    )
    sim.add_argument(
        "--futures-file",
        action="append",
        default=[],
        metavar="SYMBOL=PATH",
        help="USD-M candle file (repeatable; resampled up to the timeframe)",
    )
    sim.add_argument("--mark-file", action="append", default=[], metavar="SYMBOL=PATH")
    sim.add_argument("--funding-file", action="append", default=[], metavar="SYMBOL=PATH")
    sim.add_argument("--markets", default="spot,futures", help="spot or spot,futures")
    sim.add_argument(
        "--paused",
        action="store_true",
        help="start with the replay paused (resume or advance it through /sim/admin)",
    )
    paper = sub.add_parser(
        "paper", help="the paper venue alone: simulated fills on live market data"
    )
    paper.add_argument("--port", type=int)
    sub.add_parser("engine", help="market ingestion, analysis and decisions")
    sub.add_parser("router", help="the order router (HTTP API on loopback)")
    bot = sub.add_parser("bot", help="the chat bot and approval service")
    bot.add_argument(
        "--auto-approve",
        action="store_true",
        help="approve every decision unattended (audited as automatic)",
    )
    db = sub.add_parser("db", help="database tasks")
    db.add_argument("action", choices=["migrate"])
    audit = sub.add_parser("audit", help="verify or anchor the hash-chained audit log")
    audit.add_argument(
        "action",
        choices=["verify", "anchor"],
        help="verify: check every row and the anchors (exit 1 on the first bad row); "
        "anchor: record the chain's head outside the database now",
    )
    audit.add_argument("--anchor-file", help="anchor file (default: settings audit.anchor_file)")
    sub.add_parser("status", help="processes, database, venue, lag, kill switch and guards")
    tr = sub.add_parser("trace", help="one decision's path, candle to close, in time order")
    tr.add_argument("decision_id", type=int)
    an = sub.add_parser("analyze", help="run the analysis on a candle file", add_help=False)
    an.add_argument("rest", nargs=argparse.REMAINDER)
    bt = sub.add_parser(
        "backtest", help="backtest candle files on the live code path", add_help=False
    )
    bt.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _setup_logging(
    settings: Settings | None, secrets: dict[str, Secret], command: str = "cli"
) -> None:
    # structlog JSON on stderr (+ var/log/<process>.jsonl), secrets redacted on every handler
    configure_logging(settings, command, secrets)


def _own_parser_args(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """The command and its arguments when the command has its own parser (``analyze``,
    ``backtest``: ``greenlight backtest -h`` shows that parser's help), else ``None``."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if "=" in argv[i] or argv[i] in ("-h", "--help") else 2  # --settings PATH
    if i < len(argv) and argv[i] in ("analyze", "backtest"):
        return argv[i], list(argv[i + 1 :])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    bind_to_supervisor()  # started by ``up``/``demo``: die with it (see greenlight.lifeline)
    argv = list(sys.argv[1:] if argv is None else argv)
    own = _own_parser_args(argv)
    if own is not None and own[0] == "analyze":  # needs no settings, database or secrets
        from engine.analyze import run_analyze

        return run_analyze(own[1])
    if own is not None and ("-h" in own[1] or "--help" in own[1]):
        from engine.backtest.cli import parse_args

        parse_args(own[1])  # prints the help and exits
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.settings)
        secrets = load_secrets()
    except (SettingsError, SecretsError) as exc:
        print(f"greenlight: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings, secrets, args.command)
    try:
        if args.command in ("engine", "router", "bot"):
            from greenlight.audit_cli import anchoring

            with anchoring(settings, args.command):
                return _run(args, settings)
        return _run(args, settings)
    except (StartupError, DatabaseError) as exc:  # what to change, not a traceback
        print(f"greenlight {args.command}: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    cmd = args.command
    if cmd == "up":
        from greenlight.up import run_up

        return run_up(settings, args.settings)
    if cmd == "demo":
        from greenlight.demo import run_demo

        return run_demo(
            settings,
            args.candles,
            args.auto_approve,
            args.report,
            args.speed,
            args.timeout,
            args.keep,
            tuple(s for s in args.futures.split(",") if s),
        )
    if cmd == "sim":
        from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
        from sim.server import SimOverrides, run_sim

        if bool(args.api_key) != bool(args.api_secret):
            print("greenlight sim: give both --api-key and --api-secret", file=sys.stderr)
            return 2
        overrides = SimOverrides(
            args.spot_file,
            args.futures_file,
            args.mark_file,
            args.funding_file,
            args.markets,
            args.paused,
        )
        return run_sim(
            settings,
            args.port,
            args.api_key or SIM_DEMO_API_KEY,
            args.api_secret or SIM_DEMO_API_SECRET,
            overrides,
        )
    if cmd == "paper":
        from greenlight.core.secrets import SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET
        from sim.paper.server import run_paper

        return run_paper(settings, args.port, SIM_DEMO_API_KEY, SIM_DEMO_API_SECRET)
    if cmd == "engine":
        from engine.service import run_engine

        return run_engine(settings)
    if cmd == "router":
        from router.service import run_router

        return run_router(settings)
    if cmd == "bot":
        from bot.service import run_bot

        return run_bot(settings, auto_approve=args.auto_approve)
    if cmd == "db":
        from greenlight.core.db import admin_database_url, migrate

        applied = asyncio.run(migrate(admin_database_url(settings)))
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0
    if cmd == "status":
        from greenlight.status_cli import run_status

        return run_status(settings)
    if cmd == "trace":
        from greenlight.trace_cli import run_trace

        return run_trace(settings, args.decision_id)
    if cmd == "audit":
        from greenlight.audit_cli import run_audit

        return run_audit(settings, args.action, args.anchor_file)
    if cmd == "backtest":
        from engine.backtest.cli import run_backtest

        return run_backtest(list(args.rest), settings)
    from engine.analyze import run_analyze

    return run_analyze(list(args.rest))


if __name__ == "__main__":
    sys.exit(main())
