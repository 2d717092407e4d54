"""Settings sections of the decision stage: the guards (``[news]``, ``[funding]``,
``[volatility]``), the product's rule (``[fusion]``) and the agent plugins (``[agents]``).

Assembled into :class:`greenlight.core.settings.Settings`; every error names its key path there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from greenlight.core.settings_base import Section

Severity = Literal["HIGH", "MED", "LOW"]


class NewsSettings(Section):
    """News calendar and the blocking window around each event, per severity (minutes before
    the event's start and after its end). A window of 0/0 does not block."""

    calendar_file: str = "data/news/us-macro-2019-2021.csv"  # "" = no calendar file
    reload_interval_s: float = Field(30.0, ge=1, le=3600)  # checked for changes this often
    high_before_min: int = Field(30, ge=0, le=1440)
    high_after_min: int = Field(60, ge=0, le=1440)
    med_before_min: int = Field(15, ge=0, le=1440)
    med_after_min: int = Field(30, ge=0, le=1440)
    low_before_min: int = Field(0, ge=0, le=1440)
    low_after_min: int = Field(0, ge=0, le=1440)

    def window_ms(self, severity: str) -> tuple[int, int]:
        """(before, after) in milliseconds for ``severity`` (HIGH / MED / LOW)."""
        key = severity.lower()
        before = int(getattr(self, f"{key}_before_min"))
        after = int(getattr(self, f"{key}_after_min"))
        return before * 60_000, after * 60_000


class FundingSettings(Section):
    """USD-M funding guard: windows around each funding time and the adverse-rate limit."""

    window_before_min: int = Field(15, ge=0, le=480)
    window_after_min: int = Field(5, ge=0, le=480)
    # BLOCK when the predicted rate the position would pay exceeds this (0.0005 = 0.05 %).
    max_adverse_rate: Decimal = Field(Decimal("0.0005"), ge=0, le=Decimal("0.05"))
    refresh_interval_s: float = Field(60.0, ge=1, le=3600)  # premiumIndex poll
    interval_hours: int = Field(8, ge=1, le=24)  # funding times lie on this grid (Binance: 8)


class VolatilitySettings(Section):
    """Volatility guard: OK / CHOP / SHOCK from the regime stage and the ATR / Bollinger-width
    percentiles (SHOCK: ``regime.shock_pct``; CHOP: a RANGE regime whose Bollinger-width
    percentile is at most ``chop_bbw_pct``)."""

    block: tuple[Literal["CHOP", "SHOCK"], ...] = ("CHOP", "SHOCK")
    chop_bbw_pct: float = Field(0.20, ge=0, le=1)


class FusionSettings(Section):
    """The product's rule (see :mod:`engine.agents.fusion_kernel`)."""

    setup_bars: int = Field(24, ge=1, le=1000)  # BOS at most this many bars after the CHOCH
    wait_bars: int = Field(12, ge=1, le=1000)  # bars after the BOS a confirmation may come
    min_score: float = Field(0.6, ge=0, le=1)
    sl_atr: float = Field(0.25, ge=0, le=10)  # stop buffer beyond the structure swing, ATRs
    rsi_low: float = Field(40.0, ge=0, le=100)  # RSI bounce band (mirrored for shorts)
    rsi_high: float = Field(55.0, ge=0, le=100)
    ttl_bars: int = Field(2, ge=1, le=1000)

    @model_validator(mode="after")
    def _check(self) -> FusionSettings:
        if self.rsi_low >= self.rsi_high:
            raise ValueError("rsi_low must be below rsi_high")
        return self


class AgentsSettings(Section):
    """Where agent plugins come from besides the ``greenlight.agents`` entry points."""

    plugins_dir: str = "plugins"  # every *.py here defining ``plugin(settings)``; "" = none
