"""What a chart snapshot shows: candles, overlay lines, levels, zones, structure markers and the
optional RSI / MACD panels. Every object validates itself on construction, so a bad spec fails
with a specific ``ValueError`` before anything is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from greenlight.core.candlefile import CandleArrays, validate_candles

MAX_CANDLES = 1000

LevelKind = Literal["entry", "stop", "target", "other"]
ZoneKind = Literal["ob", "fvg"]
Direction = Literal["bull", "bear"]
MarkerKind = Literal["swing_high", "swing_low", "bos", "choch", "buy", "sell"]

_LEVEL_KINDS = ("entry", "stop", "target", "other")
_ZONE_KINDS = ("ob", "fvg")
_DIRECTIONS = ("bull", "bear")
_MARKER_KINDS = ("swing_high", "swing_low", "bos", "choch", "buy", "sell")


def _check_price(owner: str, name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a finite positive number, got {value!r}")


def _check_choice(owner: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class Level:
    """A horizontal line across the price panel with ``label`` at the right edge."""

    price: float
    label: str
    kind: LevelKind

    def __post_init__(self) -> None:
        _check_price("Level", "price", self.price)
        _check_choice("Level", "kind", self.kind, _LEVEL_KINDS)


@dataclass(frozen=True)
class Zone:
    """An order block or fair value gap box from ``start_time`` until ``end_time`` (epoch ms,
    ``None`` = right edge of the chart), between ``bottom`` and ``top``."""

    start_time: int
    end_time: int | None
    top: float
    bottom: float
    kind: ZoneKind
    direction: Direction

    def __post_init__(self) -> None:
        _check_price("Zone", "top", self.top)
        _check_price("Zone", "bottom", self.bottom)
        if self.top < self.bottom:
            raise ValueError(f"Zone: top {self.top} is below bottom {self.bottom}")
        if self.end_time is not None and self.end_time < self.start_time:
            raise ValueError(f"Zone: end_time {self.end_time} before start_time {self.start_time}")
        _check_choice("Zone", "kind", self.kind, _ZONE_KINDS)
        _check_choice("Zone", "direction", self.direction, _DIRECTIONS)


@dataclass(frozen=True)
class Marker:
    """A text label at a candle: swing labels ("HH", "LL" …) above highs or below lows, a
    BOS / CHOCH with a dashed line from ``ref_time`` to ``time`` at ``price``, or a fill
    (``buy`` ▲ / ``sell`` ▼ at its price; ``text`` is not drawn)."""

    time: int
    price: float
    text: str
    kind: MarkerKind
    ref_time: int | None = None

    def __post_init__(self) -> None:
        _check_price("Marker", "price", self.price)
        _check_choice("Marker", "kind", self.kind, _MARKER_KINDS)
        if self.kind in ("bos", "choch"):
            if self.ref_time is None:
                raise ValueError(f"Marker: a {self.kind} marker needs ref_time (line start)")
            if self.ref_time > self.time:
                raise ValueError(f"Marker: ref_time {self.ref_time} is after time {self.time}")


def _check_series(name: str, values: object, n: int, *, allow_nan: bool) -> None:
    if not isinstance(values, np.ndarray) or values.ndim != 1:
        raise ValueError(f"ChartSpec: {name} must be a 1-D numpy array")
    if values.shape[0] != n:
        raise ValueError(
            f"ChartSpec: {name} has {values.shape[0]} values but there are {n} candles"
        )
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"ChartSpec: {name} must be numeric, got dtype {values.dtype}")
    bad = np.isinf(values) if allow_nan else ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"ChartSpec: {name} has a non-finite value at row {i}")


@dataclass(frozen=True, eq=False)
class ChartSpec:
    """Everything one snapshot shows. ``lines``, ``rsi`` and ``macd`` are aligned row for row
    with ``candles`` (NaN allowed, e.g. during indicator warm-up). Zones and markers outside the
    window are clipped or skipped."""

    title: str
    candles: CandleArrays
    lines: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    levels: Sequence[Level] = ()
    zones: Sequence[Zone] = ()
    markers: Sequence[Marker] = ()
    rsi: npt.NDArray[np.float64] | None = None
    macd: (
        tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None
    ) = None

    def __post_init__(self) -> None:
        n = len(self.candles)
        if n == 0:
            raise ValueError("ChartSpec: candles are empty; a chart needs at least one candle")
        if n > MAX_CANDLES:
            raise ValueError(f"ChartSpec: {n} candles, at most {MAX_CANDLES} can be drawn")
        validate_candles(self.candles, "ChartSpec candles")
        for name, values in self.lines.items():
            _check_series(f"line {name!r}", values, n, allow_nan=True)
        if self.rsi is not None:
            _check_series("rsi", self.rsi, n, allow_nan=True)
        if self.macd is not None:
            if len(self.macd) != 3:
                raise ValueError("ChartSpec: macd must be (line, signal, histogram)")
            for name, values in zip(("line", "signal", "histogram"), self.macd, strict=True):
                _check_series(f"macd {name}", values, n, allow_nan=True)
        for kind, items, cls in (
            ("levels", self.levels, Level),
            ("zones", self.zones, Zone),
            ("markers", self.markers, Marker),
        ):
            for item in items:
                if not isinstance(item, cls):
                    raise ValueError(f"ChartSpec: {kind} must hold {cls.__name__} objects")
