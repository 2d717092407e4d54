"""The candle streams of a backtest: DATA files, their sub-timeframe and funding files, cut
to ``--from``/``--to``.

A DATA file finer than ``--tf`` is resampled to it (as the simulator serves it to the live
engine: whole buckets aligned to UTC, open of the first, close of the last); when its own
interval is ``market.sub_timeframe`` and no ``--sub`` file names the symbol, it is also the
sub-timeframe stream (micro-BOS), as live. A file coarser than ``--tf``, or one whose interval
does not divide it, is an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.backtest.run import Stream
from engine.micro_stream import micro_smc_params
from engine.retest.micro import micro_bos_flags
from greenlight.core.candlefile import (
    CandleArrays,
    detect_interval_ms,
    file_market,
    file_symbol,
    read_candles,
)
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from sim.replay.resample import resample
from sim.usdm.setup import read_series


def parse_time(text: str | None) -> int | None:
    """``--from``/``--to``: ISO-8601 (UTC when no zone is given) → epoch ms; None for none."""
    if not text:
        return None
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp() * 1000)


def at_timeframe(path: Path, candles: CandleArrays, tf: str) -> CandleArrays:
    """``candles`` at ``tf``: as they are, or resampled upward from a finer interval that
    divides it; raises ``ValueError`` naming the file otherwise."""
    step = detect_interval_ms(candles.open_time)
    want = TIMEFRAMES_MS[tf]
    if step is None or step == want:
        return candles
    if step > want or want % step:
        have = next((k for k, v in TIMEFRAMES_MS.items() if v == step), f"{step} ms")
        raise ValueError(
            f"{path.name} holds {have} candles: --tf {tf} needs {tf} candles or a finer"
            " interval that divides it"
        )
    return resample(candles, want)


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
    sub_ms = TIMEFRAMES_MS.get(settings.market.sub_timeframe)
    for path in data:
        sym = file_symbol(path)
        market = file_market(path)
        raw = read_candles(path)
        c = _window(at_timeframe(path, raw, tf), start, end)
        st = Stream(sym, market, tf, c, warmup=warmup)
        if sym in subs:
            st.sub = _window(read_candles(subs[sym]), start, end)
        elif c is not raw and sub_ms is not None and detect_interval_ms(raw.open_time) == sub_ms:
            st.sub = _window(raw, start, end)
        if st.sub is not None:
            st.micro = micro_bos_flags(
                c.open_time, TIMEFRAMES_MS[tf], st.sub, micro_smc_params(settings)
            )
        if sym in rates:
            st.funding = (rates[sym].open_time, rates[sym].open)
        streams.append(st)
    return streams
