"""The candle streams of a backtest: DATA files, their sub-timeframe and funding files, cut
to ``--from``/``--to``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.backtest.run import Stream
from engine.micro_stream import micro_smc_params
from engine.retest.micro import micro_bos_flags
from greenlight.core.candlefile import CandleArrays, file_market, file_symbol, read_candles
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from sim.usdm.setup import read_series


def parse_time(text: str | None) -> int | None:
    """``--from``/``--to``: ISO-8601 (UTC when no zone is given) → epoch ms; None for none."""
    if not text:
        return None
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp() * 1000)


def _window(c: CandleArrays, lo: int | None, hi: int | None) -> CandleArrays:
    t = c.open_time
    keep = (t >= (lo if lo is not None else t.min(initial=0))) & (
        t < (hi if hi is not None else (1 << 62))
    )
    return CandleArrays(
        t[keep],
        c.open[keep],
        c.high[keep],
        c.low[keep],
        c.close[keep],
        c.volume[keep],
        c.has_volume,
    )


def load_streams(
    data: list[Path],
    tf: str,
    settings: Settings,
    sub: list[Path] | None = None,
    funding: list[Path] | None = None,
    start: int | None = None,
    end: int | None = None,
    warmup: int = 0,
) -> list[Stream]:
    """The streams of the DATA files (see the module docstring); the first ``warmup``
    candles of each only warm the stages up, as the live engine's warm-up does."""
    subs = {file_symbol(p): p for p in sub or []}
    rates = {file_symbol(p): read_series(p) for p in funding or []}
    streams = []
    for path in data:
        sym = file_symbol(path)
        market = file_market(path)
        c = _window(read_candles(path), start, end)
        st = Stream(sym, market, tf, c, warmup=warmup)
        if sym in subs:
            st.sub = _window(read_candles(subs[sym]), start, end)
            st.micro = micro_bos_flags(
                c.open_time, TIMEFRAMES_MS[tf], st.sub, micro_smc_params(settings)
            )
        if sym in rates:
            st.funding = (rates[sym].open_time, rates[sym].open)
        streams.append(st)
    return streams
