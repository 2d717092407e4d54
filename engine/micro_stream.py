"""The sub-timeframe stream of one symbol (e.g. 5m under 15m): causal SMC on the finer
candles, and the micro structure breaks it found, kept until the parent candle containing
them is processed.

A break (BOS or CHOCH) counts for the parent candle whose span ``[open, open + tf)`` holds the
open time of the sub candle at which it became known, exactly as the batch
:func:`engine.retest.micro.micro_bos_flags` assigns it. The state (SMC arrays plus pending
breaks) serialises to bytes so that a restarted engine resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from engine.analysis_stream import (
    STATE_HEAD,
    AnalysisStateError,
    pack_arrays,
    read_state_head,
    unpack_arrays,
)
from engine.events import Candle
from engine.smc import layout as L
from engine.smc.engine import SmcEngine, SmcParams, SmcState
from greenlight.core.settings import Settings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_MAGIC = b"GLSB"
_VERSION = 1
# The STATE_HEAD int64 is the close time of the last sub candle (-1: none).


def micro_smc_params(settings: Settings) -> SmcParams:
    """The ``[smc]`` settings with the pivot length set to ``smc.micro_swing_length``."""
    return replace(
        SmcParams.from_settings(settings.smc),
        swing_length=settings.smc.micro_swing_length,
        swing_method="pivot",
    )


class MicroStream:
    """Causal SMC over one symbol's sub-timeframe candles plus the breaks awaiting their
    parent candle."""

    def __init__(self, params: SmcParams, parent_tf_ms: int) -> None:
        if parent_tf_ms <= 0:
            raise ValueError(f"parent timeframe must be positive, got {parent_tf_ms} ms")
        self.params = params
        self.parent_tf_ms = parent_tf_ms
        self.smc = SmcEngine(params)
        self.last_close_time: int | None = None
        self._breaks: list[tuple[int, int]] = []  # (open time the break became known, ±1)

    @property
    def pending(self) -> list[tuple[int, int]]:
        """Breaks not yet taken by a parent candle, oldest first: (known time, direction)."""
        return list(self._breaks)

    def update(self, candle: Candle) -> F64:
        """Consume one closed sub candle; return its SMC event rows. Raises
        :class:`engine.smc.engine.BadCandleError` (and changes nothing) for a bad candle."""
        c = candle
        ev = self.smc.update(c.open_time, c.open, c.high, c.low, c.close, c.volume)
        for row in ev:
            typ = row[L.EV_TYPE]
            if typ == L.T_BOS or typ == L.T_CHOCH:
                self._breaks.append((int(row[L.EV_TIME]), 1 if row[L.EV_DIR] > 0 else -1))
        self.last_close_time = c.close_time
        return ev

    def take(self, parent_open_time: int) -> tuple[bool, bool]:
        """Up / down micro breaks inside the parent candle opening at ``parent_open_time``;
        drops every pending break up to the end of that candle."""
        end = parent_open_time + self.parent_tf_ms
        inside = [d for t, d in self._breaks if parent_open_time <= t < end]
        self._breaks = [(t, d) for t, d in self._breaks if t >= end]
        return 1 in inside, -1 in inside

    def discard_through(self, parent_open_time: int) -> None:
        """Forget breaks belonging to the parent candle at ``parent_open_time`` or earlier
        (that candle was already processed)."""
        end = parent_open_time + self.parent_tf_ms
        self._breaks = [(t, d) for t, d in self._breaks if t >= end]

    def to_bytes(self) -> bytes:
        """Serialise the SMC state and the pending breaks (restore with :meth:`from_bytes`)."""
        s = self.smc.state
        breaks = np.array(self._breaks, np.int64).reshape((len(self._breaks), 2))
        last = -1 if self.last_close_time is None else self.last_close_time
        head = STATE_HEAD.pack(_MAGIC, _VERSION, last)
        return head + pack_arrays([s.cfg, s.ints, s.floats, s.ring, s.zones, breaks])

    @classmethod
    def from_bytes(cls, params: SmcParams, parent_tf_ms: int, data: bytes) -> MicroStream:
        """Restore a stream saved by :meth:`to_bytes`; raise :class:`AnalysisStateError` when
        the data is damaged or was made with other SMC parameters."""
        last = read_state_head(data, _MAGIC, _VERSION, "sub-timeframe state")
        a = unpack_arrays(data, STATE_HEAD.size, 6)
        state = SmcState(a[0].astype(np.int64), a[1].astype(np.int64), a[2], a[3], a[4])
        fresh = SmcState.fresh(params)
        if not np.array_equal(state.cfg, fresh.cfg) or state.zones.shape != fresh.zones.shape:
            raise AnalysisStateError(
                "sub-timeframe state was saved with other [smc] settings; rebuild it"
            )
        self = cls(params, parent_tf_ms)
        self.smc = SmcEngine(params, state=state)
        self.last_close_time = None if last < 0 else int(last)
        self._breaks = [(int(t), int(d)) for t, d in a[5].reshape((-1, 2))]
        return self
