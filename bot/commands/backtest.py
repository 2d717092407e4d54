"""``/backtest SYMBOL FROM TO`` (admin): a bounded ``greenlight backtest`` in a worker process,
its progress edited into the reply, then ``equity.png`` with the key figures
(:mod:`bot.backtest_jobs`; what may run: :mod:`bot.backtest_data`)."""

from __future__ import annotations

import logging

from bot import backtest_data
from bot.channel import Reply
from bot.commands.table import Call
from greenlight.core.candlefile import CandleFileError
from greenlight.core.store import audit

log = logging.getLogger(__name__)


async def backtest(call: Call) -> Reply:
    """Check the request, refuse while another runs, else start it; the reply is the
    progress message the job goes on editing."""
    jobs = call.ctx.backtests
    running = jobs.current
    if running is not None:
        await _refused(call, "busy", running.req.label)
        return Reply(running.busy_text(), ok=False)
    settings = call.ctx.settings
    sets = backtest_data.datasets(settings)
    spans = {}
    for d in sets:
        try:
            spans[d.symbol] = await jobs.spans.of(d.path)
        except (OSError, CandleFileError, ValueError) as exc:  # listed as unreadable
            log.warning("backtest: candle file %s cannot be read: %s", d.path, exc)
    req = backtest_data.check(call.args, sets, spans, settings)
    if isinstance(req, str):
        await _refused(call, "input", req)
        return Reply(req, ok=False)
    running = jobs.current  # another request may have started while the files were read
    if running is not None:
        return Reply(running.busy_text(), ok=False)
    job = await jobs.start(
        call.ctx.settings, call.ctx.pool, req, call.who, f"{call.channel}:{call.user_id}"
    )
    return Reply(job.text(), live=job)


async def _refused(call: Call, why: str, detail: str) -> None:
    async with call.ctx.pool.acquire() as conn:
        await audit(
            conn,
            call.who,
            "backtest.refused",
            None,
            {"why": why, "detail": detail, "args": list(call.args), "chat": call.chat_id},
        )
