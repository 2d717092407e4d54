"""The ``[backtest]`` settings section: the fill model and the account of ``greenlight
backtest`` (see :mod:`engine.backtest`), and the bounds of ``/backtest`` from chat (the
``chat_*`` keys, which change no figure of a run). The strategy, guards, sizing and costs the
live engine weighs come from the other sections, unchanged."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from greenlight.core.settings_base import Section


class BacktestSettings(Section):
    """Fill model and account of a backtest."""

    start_equity_quote: Decimal = Field(Decimal(10000), gt=0)
    # Fees per fill; empty taker: ``router.taker_fee_rate`` (what sizing assumes).
    taker_fee_rate: Decimal | None = Field(None, ge=0, lt=Decimal("0.01"))
    maker_fee_rate: Decimal | None = Field(None, ge=0, lt=Decimal("0.01"))  # None: taker
    # Slippage on market fills (entry, stop, liquidation, ttl, end of data), against us:
    # fixed basis points of the price plus a fraction of the fill candle's high-low range.
    slippage_bps: Decimal = Field(Decimal(1), ge=0, le=100)
    slippage_range_fraction: Decimal = Field(Decimal("0.02"), ge=0, le=1)
    # "ohlc": open → nearer extreme → other extreme → close, the stop first when a stop and
    # a target are both inside one candle; "sim": the simulator's replay path (bullish
    # O→L→H→C, bearish O→H→L→C) followed literally, as the demo fills.
    intrabar: Literal["ohlc", "sim"] = "ohlc"
    approve_delay_bars: int = Field(0, ge=0, le=1000)  # 0: approved at once
    max_hold_bars: int = Field(0, ge=0)  # >0: close at the close after this many (ttl)
    maintenance_margin_rate: Decimal = Field(Decimal("0.005"), gt=0, lt=1)  # USD-M liquidation
    # ``/backtest SYMBOL FROM TO`` from chat (admin): candle files it may run on (the symbol
    # is the file name's first part, USD-M when the name says perp/futures; empty: the
    # simulator's sim.data_file and sim.futures_data_file), USD-M funding files (empty:
    # sim.futures_funding_file), the longest span, the time bound of the worker process, how
    # often its progress message may be edited, where runs are written ("": var/backtests)
    # and how many of the newest runs' folders are kept there (older ones are removed).
    chat_data: tuple[str, ...] = ()
    chat_funding: tuple[str, ...] = ()
    chat_max_days: int = Field(366, ge=1, le=3660)
    chat_timeout_s: float = Field(300.0, gt=0, le=3600)
    chat_progress_interval_s: float = Field(2.0, ge=0.5, le=60)
    chat_out_dir: str = ""
    chat_keep_runs: int = Field(20, ge=1, le=10_000)


CHAT_KEYS = frozenset(k for k in BacktestSettings.model_fields if k.startswith("chat_"))
