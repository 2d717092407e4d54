"""Causal SMC engine: parameters, explicit state, batch runs and one-candle streaming.

Batch and streaming call the same numba step (:func:`engine.smc.causal.smc_step`), so their
outputs are identical by construction; the state is a handful of numpy arrays that can be
persisted with :meth:`SmcState.to_bytes` and restored with :meth:`SmcState.from_bytes`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from engine.smc import layout as L
from engine.smc.causal import (
    CFG_FVG_EXPIRY,
    CFG_N,
    CFG_OB_EXPIRY,
    CFG_OB_LOOKBACK,
    CFG_RING,
    CFG_SIZE,
    MAX_EVENTS_FIXED,
    smc_run,
    smc_step,
)
from greenlight.core.candlefile import CandleArrays, validate_candles

if TYPE_CHECKING:
    from greenlight.core.settings import SmcSettings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class CandleGapError(ValueError):
    """A candle does not follow the previous one by exactly one timeframe."""


class BadCandleError(ValueError):
    """A candle is unusable (NaN, non-positive, high < low, duplicate, out of order)."""


@dataclass(frozen=True)
class SmcParams:
    """Causal SMC settings: swing detector (``"pivot"`` with N = ``swing_length`` bars, or
    ``"zigzag"`` reversing at ``zigzag_atr_mult`` × ATR(``atr_period``)), zone lifetimes in
    bars and the zone table size."""

    swing_length: int = 5
    ob_expiry_bars: int = 96
    fvg_expiry_bars: int = 192
    ob_lookback_bars: int = 32
    zone_capacity: int = 64
    swing_method: Literal["pivot", "zigzag"] = "pivot"
    zigzag_atr_mult: float = 3.0
    atr_period: int = 14

    def __post_init__(self) -> None:
        for name in (
            "swing_length",
            "ob_expiry_bars",
            "fvg_expiry_bars",
            "ob_lookback_bars",
            "atr_period",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"SmcParams.{name} must be >= 1, got {getattr(self, name)}")
        if self.zone_capacity < 2:
            raise ValueError(f"SmcParams.zone_capacity must be >= 2, got {self.zone_capacity}")
        if self.swing_method not in ("pivot", "zigzag"):
            raise ValueError(
                f"SmcParams.swing_method must be 'pivot' or 'zigzag', got {self.swing_method!r}"
            )
        if not (np.isfinite(self.zigzag_atr_mult) and self.zigzag_atr_mult > 0):
            raise ValueError(
                f"SmcParams.zigzag_atr_mult must be a positive number, got {self.zigzag_atr_mult}"
            )

    @classmethod
    def from_settings(cls, s: SmcSettings) -> SmcParams:
        """The ``[smc]`` settings section as engine parameters."""
        return cls(
            swing_length=s.swing_length,
            ob_expiry_bars=s.ob_expiry_bars,
            fvg_expiry_bars=s.fvg_expiry_bars,
            ob_lookback_bars=s.ob_lookback_bars,
            zone_capacity=s.zone_capacity,
            swing_method=s.swing_method,
            zigzag_atr_mult=s.zigzag_atr_mult,
            atr_period=s.atr_period,
        )

    def config(self) -> I64:
        """The int64 config vector the numba step reads."""
        cfg = np.zeros(CFG_SIZE, np.int64)
        cfg[CFG_N] = self.swing_length
        cfg[CFG_RING] = max(2 * self.swing_length + 1, self.ob_lookback_bars + 1, 3)
        cfg[CFG_OB_EXPIRY] = self.ob_expiry_bars
        cfg[CFG_FVG_EXPIRY] = self.fvg_expiry_bars
        cfg[CFG_OB_LOOKBACK] = self.ob_lookback_bars
        cfg[L.CFG_METHOD] = L.METHOD_ZIGZAG if self.swing_method == "zigzag" else L.METHOD_PIVOT
        cfg[L.CFG_ATR_PERIOD] = self.atr_period
        return cfg


@dataclass
class SmcState:
    """The complete state of one stream; arrays are mutated in place by the step."""

    cfg: I64
    ints: I64
    floats: F64
    ring: F64
    zones: F64

    @classmethod
    def fresh(cls, params: SmcParams) -> SmcState:
        """State before the first candle."""
        cfg = params.config()
        floats = np.full(L.F_SIZE, np.nan)
        floats[L.F_ZZ_MULT] = params.zigzag_atr_mult
        return cls(
            cfg,
            np.zeros(L.I_SIZE, np.int64),
            floats,
            np.zeros((int(cfg[CFG_RING]), L.R_COLS)),
            np.zeros((params.zone_capacity, L.Z_COLS)),
        )

    def copy(self) -> SmcState:
        """An independent copy."""
        return SmcState(
            self.cfg.copy(),
            self.ints.copy(),
            self.floats.copy(),
            self.ring.copy(),
            self.zones.copy(),
        )

    def to_bytes(self) -> bytes:
        """Serialise (npz) for persistence; restore with :meth:`from_bytes`."""
        buf = io.BytesIO()
        np.savez(
            buf, cfg=self.cfg, ints=self.ints, floats=self.floats, ring=self.ring, zones=self.zones
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SmcState:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data)) as z:
            return cls(z["cfg"], z["ints"], z["floats"], z["ring"], z["zones"])

    @property
    def candles_seen(self) -> int:
        """Number of candles consumed."""
        return int(self.ints[L.I_N])

    @property
    def trend(self) -> int:
        """+1 up, -1 down, 0 not yet known."""
        return int(self.ints[L.I_TREND])


def _events_per_candle(state: SmcState) -> int:
    return MAX_EVENTS_FIXED + 2 * int(state.zones.shape[0])


def run_smc_batch(
    candles: CandleArrays,
    params: SmcParams,
    state: SmcState | None = None,
    tf_ms: int | None = None,
) -> tuple[F64, SmcState]:
    """Run the causal engine over ``candles`` (continuing ``state`` if given).

    Returns the event records (rows laid out as in :mod:`engine.smc.layout`) and the final
    state. With ``tf_ms`` a gap between candles raises :class:`CandleGapError`."""
    check_candles(candles, tf_ms, state)
    st = state if state is not None else SmcState.fresh(params)
    n = len(candles)
    # about one event per candle on real data; every row below k is written in full
    cap = max(_events_per_candle(st) * 4, n + _events_per_candle(st))
    ev = np.empty((cap, L.EV_COLS))
    i, k = 0, 0
    vol = np.nan_to_num(candles.volume, nan=0.0)
    while i < n:
        i, k = smc_run(
            st.cfg,
            st.ints,
            st.floats,
            st.ring,
            st.zones,
            candles.open_time,
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            vol,
            i,
            ev,
            k,
        )
        if i < n:
            ev = np.concatenate([ev, np.empty_like(ev)])
    return ev[:k].copy(), st


def check_candles(candles: CandleArrays, tf_ms: int | None, state: SmcState | None) -> None:
    """Stage-boundary validation: bad candles raise :class:`BadCandleError`, gaps (when
    ``tf_ms`` is given) :class:`CandleGapError`, each naming the candle's open time."""
    try:
        validate_candles(candles, "candles")
    except ValueError as exc:
        raise BadCandleError(str(exc)) from exc
    if len(candles) == 0:
        return
    times = candles.open_time
    if state is not None and state.candles_seen:
        prev = int(state.ints[L.I_LAST_TIME])
        times = np.concatenate([[prev], times])
        if tf_ms is None and times[1] <= prev:
            raise BadCandleError(f"candle {int(times[1])}: not after the last one ({prev})")
    if tf_ms is not None and times.shape[0] > 1:
        step = np.diff(times)
        bad = np.flatnonzero(step != tf_ms)
        if bad.size:
            j = int(bad[0])
            raise CandleGapError(
                f"candle {int(times[j + 1])}: expected open time {int(times[j]) + tf_ms} "
                f"(gap or overlap of {int(step[j]) - tf_ms} ms after {int(times[j])})"
            )


class SmcEngine:
    """Streaming wrapper: one :meth:`update` per closed candle of one stream."""

    def __init__(
        self, params: SmcParams, tf_ms: int | None = None, state: SmcState | None = None
    ) -> None:
        self.params = params
        self.tf_ms = tf_ms
        self.state = state if state is not None else SmcState.fresh(params)
        self._ev = np.zeros((_events_per_candle(self.state), L.EV_COLS))

    def update(
        self, open_time: int, o: float, h: float, lo: float, c: float, v: float = 0.0
    ) -> F64:
        """Consume one closed candle; return the event rows it produced (a fresh array)."""
        self._check(open_time, o, h, lo, c)
        st = self.state
        k = smc_step(
            st.cfg,
            st.ints,
            st.floats,
            st.ring,
            st.zones,
            float(open_time),
            o,
            h,
            lo,
            c,
            0.0 if v != v else v,
            self._ev,
            0,
        )
        return self._ev[:k].copy()

    def _check(self, t: int, o: float, h: float, lo: float, c: float) -> None:
        if not all(np.isfinite(x) and x > 0 for x in (o, h, lo, c)):
            raise BadCandleError(f"candle {t}: non-finite or non-positive price")
        if h < lo or not (lo <= o <= h and lo <= c <= h):
            raise BadCandleError(f"candle {t}: high/low do not contain open/close")
        if self.state.candles_seen:
            prev = int(self.state.ints[L.I_LAST_TIME])
            if t <= prev:
                raise BadCandleError(f"candle {t}: duplicate or out of order (last {prev})")
            if self.tf_ms is not None and t - prev != self.tf_ms:
                raise CandleGapError(
                    f"candle {t}: gap after {prev} ({(t - prev) // self.tf_ms - 1} missing)"
                )
