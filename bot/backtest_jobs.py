"""``/backtest`` jobs: one at a time per bot, each in a worker process with a time bound.

The worker is ``python -m engine.backtest.worker`` (:mod:`engine.backtest.worker`): it runs
exactly ``greenlight backtest`` with the bot's settings at a lower CPU priority and reports
progress as JSON lines. The job edits the chat's progress message at most every
``backtest.chat_progress_interval_s`` and only when the percentage changed (channels that
cannot edit, LINE, show only the start and the end). Past ``backtest.chat_timeout_s`` the
worker is killed and the chat told so. The end replaces the progress message's text and sends
``equity.png`` with the key figures. Start and end are audited (``backtest.started`` and
``backtest.finished`` / ``failed`` / ``timeout`` / ``stopped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bot.backtest_data import Request, Spans
from bot.backtest_text import busy_text, figures_text, outcome_text, progress_text
from bot.channel import LiveMessage, Reply
from greenlight.core.clock import Clock, utc_now
from greenlight.core.secrets import SECRET_NAMES
from greenlight.core.settings import REPO_ROOT, Settings
from greenlight.core.store import audit

log = logging.getLogger(__name__)
ATTACH_WAIT_S = 10.0  # how long the end waits for the channel to have shown the start
STDERR_KEEP = 4000
_HIDDEN_ENV = frozenset({*SECRET_NAMES, "GREENLIGHT_SECRETS_FILE"})


def worker_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: the bot's, without any secret (it needs none)."""
    return {k: v for k, v in environ.items() if k not in _HIDDEN_ENV}


def out_root(settings: Settings) -> Path:
    """Where chat backtests are written (``backtest.chat_out_dir``, default var/backtests)."""
    base = settings.backtest.chat_out_dir
    return settings.resolve_path(base) if base else REPO_ROOT / "var" / "backtests"


def out_dir(settings: Settings, req: Request, now: datetime) -> Path:
    """``<chat_out_dir>/BTCUSDT-20200301-20200331-20260102T101500Z``."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return out_root(settings) / f"{req.dataset.symbol}-{req.first:%Y%m%d}-{req.last:%Y%m%d}-{stamp}"


RUN_FOLDER = re.compile(r"^[A-Z0-9]+-\d{8}-\d{8}-(\d{8}T\d{6}Z)$")


def prune_runs(root: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest run folders (by the time in their name) under
    ``root``; anything not named like a run is left alone. Returns what was removed."""
    if not root.is_dir():
        return []
    runs = [(m.group(1), p) for p in root.iterdir() if (m := RUN_FOLDER.match(p.name))]
    runs = [r for r in runs if r[1].is_dir()]
    old = [p for _, p in sorted(runs, reverse=True)[keep:]]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return old


class Throttle:
    """Progress edits at most every ``interval_s`` and only when the percentage changed."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.shown: int | None = None
        self.at = float("-inf")

    def wait_s(self, now: float) -> float:
        """Seconds until the next edit is allowed (0 when it is)."""
        return max(0.0, self.at + self.interval_s - now)

    def changed(self, percent: int) -> bool:
        """Whether ``percent`` differs from what the message shows."""
        return percent != self.shown

    def mark(self, percent: int, now: float) -> None:
        """``percent`` was shown at ``now``."""
        self.shown, self.at = percent, now


@dataclass
class Outcome:
    """How a run ended: ``done`` (with the figures), ``failed``, ``timeout`` or ``stopped``."""

    kind: str
    figures: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


class BacktestJob:
    """One running /backtest; it is the reply's follow-up (:class:`bot.channel.Followup`)."""

    def __init__(
        self,
        settings: Settings,
        req: Request,
        who: str,
        actor: str,
        out: Path,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.req = req
        self.who = who
        self.actor = actor
        self.out = out
        self.clock = clock
        self.began = clock.monotonic()
        self.percent = 0
        self.label = "starting"
        self.pid: int | None = None
        self.live: LiveMessage | None = None
        self._attached = asyncio.Event()
        self._changed = asyncio.Event()
        self.throttle = Throttle(settings.backtest.chat_progress_interval_s)

    @property
    def seconds(self) -> float:
        """Seconds since the job started."""
        return self.clock.monotonic() - self.began

    def attach(self, message: LiveMessage) -> None:
        """The start was shown as ``message`` (at 0 %): progress edits may follow."""
        self.live = message
        self.throttle.mark(self.percent, self.clock.monotonic())
        self._attached.set()
        self._changed.set()

    def text(self) -> str:
        """The progress message as it stands."""
        return progress_text(self.req, self.percent, self.label, self.seconds)

    def busy_text(self) -> str:
        """The answer to another /backtest while this one runs."""
        return busy_text(self.req, self.who, self.percent, self.seconds)

    def advance(self, done: float, label: str) -> None:
        """The worker reported ``done`` (0..1) while doing ``label``."""
        self.percent = max(self.percent, min(100, int(done * 100)))
        self.label = label
        self._changed.set()

    async def show_progress(self) -> None:
        """Edit the progress message as the throttle allows, until cancelled."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self.live is None or not self.live.editable:
                continue
            await asyncio.sleep(self.throttle.wait_s(self.clock.monotonic()))
            if self.throttle.changed(self.percent):
                self.throttle.mark(self.percent, self.clock.monotonic())
                try:
                    await self.live.edit(self.text())
                except Exception:  # a lost progress edit must not stop the run
                    log.exception("backtest: progress edit failed")

    async def run_worker(self) -> Outcome:
        """Start the worker, follow its progress, bound its time; kill it when over."""
        s = self.settings
        job = {
            "argv": self.req.argv(self.out),
            "settings": s.model_dump(mode="json"),
            "parent": os.getpid(),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.backtest.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=worker_env(os.environ),
        )
        self.pid = proc.pid
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        errors = asyncio.create_task(_tail(proc.stderr))
        try:
            proc.stdin.write(json.dumps(job).encode())
            await proc.stdin.drain()
            proc.stdin.close()
            async with asyncio.timeout(s.backtest.chat_timeout_s):
                outcome = await self._follow(proc.stdout)
                await proc.wait()
        except TimeoutError:
            return Outcome("timeout", detail=f"{s.backtest.chat_timeout_s:g}")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            stderr = await errors
        if outcome is None:
            last = stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            return Outcome("failed", detail=f"the worker stopped ({last[0]})")
        return outcome

    async def _follow(self, stdout: asyncio.StreamReader) -> Outcome | None:
        async for raw in stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                log.warning("backtest worker said %r", raw[:200])
                continue
            if "progress" in message:
                self.advance(float(message["progress"]), str(message.get("label", "")))
            elif "done" in message:
                return Outcome("done", figures=dict(message["done"]))
            elif "error" in message:
                return Outcome("failed", detail=str(message["error"]))
        return None

    def audit_detail(self, outcome: Outcome) -> dict[str, object]:
        """What the audit log keeps of how the run ended."""
        detail: dict[str, object] = {"run": self.req.label, "seconds": round(self.seconds, 1)}
        if outcome.kind == "done":
            detail.update(
                trades=outcome.figures.get("trades"),
                final_equity_quote=outcome.figures.get("final_equity_quote"),
                out=str(self.out),
            )
        elif outcome.kind == "timeout":
            detail["timeout_s"] = float(outcome.detail)
        elif outcome.detail:
            detail["error"] = outcome.detail
        return detail

    async def finish(self, outcome: Outcome) -> None:
        """Replace the progress message's text and send the figures."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attached.wait(), ATTACH_WAIT_S)
        if self.live is None:
            log.warning("backtest %s ended (%s) with no chat to tell", self.req.label, outcome.kind)
            return
        # The progress message says how it ended; a new message brings the result (or the
        # failure), so the person is notified, and LINE, which cannot edit, hears it too.
        ended = outcome_text(self.req, outcome.kind, outcome.detail, self.seconds)
        reply = Reply(ended, ok=False)
        if outcome.kind == "done":
            image = self.out / "equity.png"
            attachments = (image,) if await asyncio.to_thread(image.is_file) else ()
            agent = self.settings.strategy.agent
            text = figures_text(self.req, outcome.figures, self.out, agent)
            reply = Reply(text, attachments=attachments)
        try:
            await self.live.edit(ended)
            await self.live.send(reply)
        except Exception:
            log.exception("backtest: the end of %s could not be shown", self.req.label)


class BacktestJobs:
    """The bot's /backtest runner: at most one job at a time, timed by ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.current: BacktestJob | None = None
        self.spans = Spans()
        self._task: asyncio.Task[None] | None = None

    async def start(
        self, settings: Settings, pool: asyncpg.Pool, req: Request, who: str, actor: str
    ) -> BacktestJob:
        """Audit and start ``req`` (the caller checked that nothing runs)."""
        if self.current is not None:
            raise RuntimeError("a backtest is already running")
        # the newest runs stay, this one included: room is made before it is written
        keep = settings.backtest.chat_keep_runs - 1
        removed = await asyncio.to_thread(prune_runs, out_root(settings), keep)
        if removed:
            log.info(
                "backtest: removed %d old run folder(s) under %s", len(removed), removed[0].parent
            )
        out = out_dir(settings, req, utc_now(self.clock))
        job = BacktestJob(settings, req, who, actor, out, self.clock)
        self.current = job
        try:
            async with pool.acquire() as conn:
                detail = {"run": req.label, "by": actor, "command": req.command()}
                await audit(conn, who, "backtest.started", None, {**detail, "out": str(job.out)})
        except BaseException:
            self.current = None
            raise
        self._task = asyncio.create_task(self._run(pool, job), name="backtest")
        return job

    async def _run(self, pool: asyncpg.Pool, job: BacktestJob) -> None:
        shows = asyncio.create_task(job.show_progress(), name="backtest-progress")
        outcome = Outcome("failed", detail="the worker could not be started")
        try:
            outcome = await job.run_worker()
        except asyncio.CancelledError:
            outcome = Outcome("stopped")
            raise
        except OSError as exc:
            outcome = Outcome("failed", detail=f"the worker could not be started ({exc})")
        except Exception as exc:
            log.exception("backtest: %s failed", job.req.label)
            outcome = Outcome("failed", detail=f"{type(exc).__name__}: {exc}")
        finally:
            try:
                shows.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await shows
                await _audit_end(pool, job, outcome)
                await job.finish(outcome)
            finally:
                self.current = None  # whatever happened, the next /backtest may run

    async def close(self) -> None:
        """Stop a running job (its worker is killed) and tell its chat."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _tail(stream: asyncio.StreamReader) -> str:
    """The last characters the worker wrote to stderr."""
    kept = b""
    async for line in stream:
        kept = (kept + line)[-STDERR_KEEP:]
    return kept.decode(errors="replace")


async def _audit_end(pool: asyncpg.Pool, job: BacktestJob, outcome: Outcome) -> None:
    try:
        async with pool.acquire() as conn:
            await audit(conn, job.who, f"backtest.{outcome.kind}", None, job.audit_detail(outcome))
    except Exception:  # the chat still hears how it ended
        log.exception("backtest: audit of the %s run failed", outcome.kind)
