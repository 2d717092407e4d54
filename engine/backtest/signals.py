"""The chosen agent's signals over one stream's candles, through the live stages and guards.

The stages run in batch (:func:`engine.decisions_batch.run_stages`: the live stream's numba
step functions looped over arrays). The agent then runs in one of two ways, with the same
answers (a test compares them):

* a compiled agent runs its own kernel over every candle inside numba and Python only builds
  the signals of the candles that have one (``fusion``: :func:`fusion_batch` loops
  :func:`engine.agents.fusion_kernel.fusion_step`; ``retest`` only reads the retest stage's
  row, so it is asked on the candles where that row confirms);
* any other plugin gets ``on_bar`` on every candle, as the live stream calls it.

Each signal meets the guards the live decision stage judges at the candle's close: news (a
calendar on the file's own times), volatility, and on USD-M funding (from the funding file:
the rate of the next funding time stands for the venue's predicted rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.agents import fusion_kernel as FK
from engine.agents.base import BarContext
from engine.agents.fusion import FusionAgent
from engine.agents.registry import AgentSet
from engine.agents.retest import RetestAgent
from engine.decisions_batch import StageOutputs, bar_candle, iter_signals, update_context
from engine.guards import vol as V
from engine.guards.funding import NOT_APPLICABLE, FundingBook
from engine.guards.news import NewsGuard
from engine.guards.news_calendar import symbol_assets
from engine.guards.verdict import Verdict
from engine.regime import kernel as RK
from engine.retest import kernel as TK
from greenlight.core.candlefile import CandleArrays
from greenlight.core.contracts import Market, SignalRaw
from greenlight.core.settings import Settings
from greenlight.core.symbols import SymbolRules

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
VENUE = "backtest"


@dataclass(frozen=True)
class Candidate:
    """A signal of the chosen agent at candle ``index`` of a stream, with the guards'
    verdicts at that candle's close."""

    index: int
    signal: SignalRaw
    verdicts: dict[str, Verdict]


@njit(cache=True)
def fusion_batch(
    cfg: F64,
    st: F64,
    setups: F64,
    events: F64,
    off: I64,
    cols: tuple[F64, F64, F64, F64, F64, F64, F64],
    out: F64,
) -> npt.NDArray[np.int64]:
    """Run :func:`fusion_step` over every candle, its input row gathered from ``cols`` (one
    array per ``X_*`` input, in that order); return the candles with a signal, their output
    rows in ``out``."""
    n = cols[0].shape[0]
    hits = np.empty(n, np.int64)
    k = 0
    x = np.empty(FK.X_SIZE)
    row = np.zeros(out.shape[1])
    for i in range(n):
        x[FK.X_CLOSE] = cols[FK.X_CLOSE][i]
        x[FK.X_ATR] = cols[FK.X_ATR][i]
        x[FK.X_RSI] = cols[FK.X_RSI][i]
        x[FK.X_HIST] = cols[FK.X_HIST][i]
        x[FK.X_EMA] = cols[FK.X_EMA][i]
        x[FK.X_RETEST_DIR] = cols[FK.X_RETEST_DIR][i]
        x[FK.X_RETEST_BOS] = cols[FK.X_RETEST_BOS][i]
        FK.fusion_step(cfg, st, setups, events[off[i] : off[i + 1]], x, row)
        if row[FK.O_DIR] != 0.0:
            out[k, :] = row
            hits[k] = i
            k += 1
    return hits[:k]


def _fusion(
    agent: FusionAgent, c: CandleArrays, st: StageOutputs, ctx: BarContext
) -> list[tuple[int, SignalRaw]]:
    f = st.feats
    rt = st.retest
    cols = (
        c.close,
        f[agent._atr],
        f[agent._rsi],
        f["macd_hist"],
        f[agent._ema],
        np.ascontiguousarray(rt[:, TK.O_DIR]),
        np.ascontiguousarray(rt[:, TK.O_BOS_TIME]),
    )
    state = agent.new_state()
    cfg = agent._cfg_both if ctx.shorts else agent._cfg_long
    out = np.empty((len(c), FK.O_COLS))
    events = np.ascontiguousarray(st.events)
    hits = fusion_batch(cfg, state["scalars"], state["setups"], events, st.offsets, cols, out)
    found = []
    for k, i in enumerate(hits.tolist()):
        bar = bar_candle(c, i, ctx.symbol, ctx.tf, ctx.tf_ms, ctx.venue)
        found.append((i, agent.signal(out[k], bar, float(f[agent._rsi][i]))))
    return found


def _retest(
    agent: RetestAgent, c: CandleArrays, st: StageOutputs, ctx: BarContext
) -> list[tuple[int, SignalRaw]]:
    found: list[tuple[int, SignalRaw]] = []
    state = agent.new_state()
    for i in np.flatnonzero(st.retest[:, TK.O_DIR] != 0.0).tolist():
        update_context(ctx, st, i)
        bar = bar_candle(c, i, ctx.symbol, ctx.tf, ctx.tf_ms, ctx.venue)
        found.extend((i, s) for s in agent.on_bar(ctx, bar, {}, state)[:1])
    return found


def agent_signals(
    c: CandleArrays,
    st: StageOutputs,
    agents: AgentSet,
    chosen: str,
    ctx: BarContext,
    compiled: bool = True,
) -> list[tuple[int, SignalRaw]]:
    """The chosen agent's signals by candle index (see the module docstring);
    ``compiled=False`` forces the bar-by-bar path."""
    agent = agents.agents[chosen]
    if compiled and isinstance(agent, FusionAgent):
        return _fusion(agent, c, st, ctx)
    if compiled and isinstance(agent, RetestAgent):
        return _retest(agent, c, st, ctx)
    return list(iter_signals(c, st, AgentSet({chosen: agent}), chosen, ctx))


def funding_book(settings: Settings, symbol: str, times: I64, rates: F64) -> FundingBook:
    """A funding guard book over a funding file's times and rates (see :func:`verdicts`)."""
    book = FundingBook(settings.funding)
    if len(times):
        book.update(symbol, int(times[0]), Decimal(repr(float(rates[0]))))
    return book


def verdicts(
    settings: Settings,
    st: StageOutputs,
    i: int,
    now: int,
    news: NewsGuard,
    rules: SymbolRules,
    market: Market,
    funding: tuple[FundingBook, I64, F64] | None,
    side: str,
) -> dict[str, Verdict]:
    """The guards' verdicts at candle ``i``'s close ``now`` for a signal on ``side``."""
    reg = st.regime
    atr_pct, bbw_pct = float(reg[i, RK.O_ATR_PCT]), float(reg[i, RK.O_BBW_PCT])
    assets = symbol_assets(rules.symbol, rules.base_asset, rules.quote_asset)
    out = {
        "news": news.verdict(now, assets),
        "funding": NOT_APPLICABLE,
        "vol": V.vol_verdict(int(st.vol[i]), settings.volatility, atr_pct, bbw_pct),
    }
    if market is Market.USDM:
        if funding is None:
            out["funding"] = Verdict("funding", "N/A", False, "no funding file")
        else:
            book, times, rates = funding
            k = int(np.searchsorted(times, now, side="left"))
            if k < len(times):
                book.update(rules.symbol, int(times[k]), Decimal(repr(float(rates[k]))))
                out["funding"] = book.verdict(rules.symbol, now, side)
            else:
                out["funding"] = Verdict("funding", "N/A", False, "past the funding file")
    return out
