"""Retest analyzer: parameters, state, batch and streaming runs, and ``signals_raw.v1`` output.

The stage consumes the causal SMC event rows (:mod:`engine.smc.layout`) and the feature
series ATR, RSI and MACD histogram of the same candles; see :mod:`engine.retest.kernel` for
the rule.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engine.retest import kernel as K
from engine.smc import layout as L
from greenlight.core.contracts import SignalRaw

if TYPE_CHECKING:
    from greenlight.core.settings import RetestSettings

F64 = npt.NDArray[np.float64]
B1 = npt.NDArray[np.bool_]

AGENT = "retest.v1"


@dataclass(frozen=True)
class RetestParams:
    """Retest settings: wait window in bars, zone tolerance and stop distance in ATR, RSI
    bounce band, whether MACD/RSI momentum is required, the signal's TP ladder and TTL."""

    wait_bars: int = 8
    tol_atr: float = 0.25
    sl_atr: float = 0.5
    rsi_lo: float = 40.0
    rsi_hi: float = 55.0
    require_momentum: bool = True
    tp_r: tuple[float, ...] = (1.5, 2.0, 3.0)
    ttl_bars: int = 4
    zone_capacity: int = 64

    def __post_init__(self) -> None:
        if self.wait_bars < 1 or self.ttl_bars < 1 or self.zone_capacity < 2:
            raise ValueError("RetestParams: wait_bars, ttl_bars >= 1 and zone_capacity >= 2")
        if not (self.tol_atr >= 0 and self.sl_atr > 0):
            raise ValueError("RetestParams: tol_atr must be >= 0 and sl_atr > 0")
        if not (0 <= self.rsi_lo < self.rsi_hi <= 100):
            raise ValueError(
                f"RetestParams: need 0 <= rsi_lo < rsi_hi <= 100, got {self.rsi_lo}, {self.rsi_hi}"
            )
        if not self.tp_r or any(r <= 0 for r in self.tp_r):
            raise ValueError(f"RetestParams: tp_r must be positive multiples, got {self.tp_r}")

    @classmethod
    def from_settings(
        cls, s: RetestSettings, tp_r: tuple[float, ...], zone_capacity: int = 64
    ) -> RetestParams:
        """The ``[retest]`` settings section (plus the strategy's TP ladder and the SMC zone
        table size) as stage parameters."""
        return cls(
            wait_bars=s.wait_bars,
            tol_atr=s.tol_atr,
            sl_atr=s.sl_atr,
            rsi_lo=s.rsi_low,
            rsi_hi=s.rsi_high,
            require_momentum=s.require_momentum,
            tp_r=tuple(tp_r),
            ttl_bars=s.ttl_bars,
            zone_capacity=zone_capacity,
        )

    def config(self) -> F64:
        """The float64 config vector the numba step reads."""
        cfg = np.zeros(K.C_SIZE)
        cfg[K.C_WAIT] = self.wait_bars
        cfg[K.C_TOL_ATR] = self.tol_atr
        cfg[K.C_SL_ATR] = self.sl_atr
        cfg[K.C_RSI_LO] = self.rsi_lo
        cfg[K.C_RSI_HI] = self.rsi_hi
        cfg[K.C_REQUIRE_MOMENTUM] = 1.0 if self.require_momentum else 0.0
        return cfg


@dataclass
class RetestState:
    """Explicit state of one stream's retest stage (mutated in place by the step)."""

    scalars: F64
    zones: F64
    setups: F64

    @classmethod
    def fresh(cls, params: RetestParams) -> RetestState:
        """State before the first candle."""
        scalars = np.full(K.S_SIZE, np.nan)
        scalars[K.S_BAR] = 0.0
        return cls(scalars, np.zeros((params.zone_capacity, K.Z_COLS)), np.zeros((2, K.U_COLS)))

    def to_bytes(self) -> bytes:
        """Serialise (npz) for persistence; restore with :meth:`from_bytes`."""
        buf = io.BytesIO()
        np.savez(buf, scalars=self.scalars, zones=self.zones, setups=self.setups)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RetestState:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data)) as z:
            return cls(z["scalars"], z["zones"], z["setups"])


def run_retest_batch(
    events: F64,
    o: F64,
    h: F64,
    lo: F64,
    c: F64,
    atr: F64,
    rsi: F64,
    hist: F64,
    params: RetestParams,
    micro_up: B1 | None = None,
    micro_dn: B1 | None = None,
    state: RetestState | None = None,
) -> tuple[F64, RetestState]:
    """Run the stage over candles whose SMC events are ``events``; return one output row per
    candle (see ``kernel.O_*``; O_DIR 0 = no signal) and the final state."""
    st = state if state is not None else RetestState.fresh(params)
    n = c.shape[0]
    first_bar = st.scalars[K.S_BAR]
    bars = np.ascontiguousarray(events[:, L.EV_BAR]) - first_bar
    no = np.zeros(n, np.bool_)
    out = np.zeros((n, K.O_COLS))
    K.retest_run(
        params.config(),
        st.scalars,
        st.zones,
        st.setups,
        np.ascontiguousarray(events),
        bars,
        o,
        h,
        lo,
        c,
        atr,
        rsi,
        hist,
        no if micro_up is None else micro_up,
        no if micro_dn is None else micro_dn,
        out,
    )
    return out, st


class RetestAnalyzer:
    """Streaming retest stage for one stream: call :meth:`update` after the SMC stage."""

    def __init__(self, params: RetestParams, state: RetestState | None = None) -> None:
        self.params = params
        self.state = state if state is not None else RetestState.fresh(params)
        self._cfg = params.config()
        self._px = np.zeros(4)
        self._out = np.zeros(K.O_COLS)
        self._micro = [False, False]

    def note_micro_bos(self, direction: int) -> None:
        """Record a structure break on the sub-timeframe inside the current candle."""
        self._micro[0 if direction > 0 else 1] = True

    def update(
        self,
        events: F64,
        o: float,
        h: float,
        lo: float,
        c: float,
        atr: float,
        rsi: float,
        hist: float,
    ) -> F64 | None:
        """Consume one candle and its SMC event rows; return the output row on a signal."""
        self._px[:] = (o, h, lo, c)
        K.retest_step(
            self._cfg,
            self.state.scalars,
            self.state.zones,
            self.state.setups,
            events,
            0,
            events.shape[0],
            self._px,
            atr,
            rsi,
            hist,
            self._micro[0],
            self._micro[1],
            self._out,
        )
        self._micro = [False, False]
        return self._out.copy() if self._out[K.O_DIR] != 0.0 else None


def feature_flags(bits: int) -> dict[str, bool]:
    """The explanation booleans of a signal's feature bitmask."""
    return {name: bool(bits & bit) for name, bit, _ in K.FEATURE_BITS}


def to_signal(
    row: F64, params: RetestParams, venue: str, symbol: str, tf: str, open_time: int
) -> SignalRaw:
    """Build the ``signals_raw.v1`` event of an output row with a signal."""
    bits = int(row[K.O_FEATURES])
    flags = feature_flags(bits)
    side = "long" if row[K.O_DIR] > 0 else "short"
    why = ", ".join(name for name, on in flags.items() if on)
    return SignalRaw(
        agent=AGENT,
        venue=venue,
        symbol=symbol,
        tf=tf,
        open_time=open_time,
        side_hint=side,
        entry_hint=float(row[K.O_ENTRY]),
        sl_hint=float(row[K.O_SL]),
        tpR=params.tp_r,
        features=flags,
        score=round(float(row[K.O_SCORE]), 6),
        ttl_bars=params.ttl_bars,
        why=f"BOS retest of {row[K.O_BOTTOM]:.8g}-{row[K.O_TOP]:.8g}: {why}",
    )
