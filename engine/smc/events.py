"""Typed events of the SMC stage (``swings.v1``, ``smc_events.v1``, ``zones.v1``, defined in
:mod:`greenlight.core.contracts`) built from the engine's event rows (:mod:`engine.smc.layout`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.smc import layout as L
from engine.smc.tables import structure_kind
from greenlight.core.contracts import StructureEvent, SwingEvent, ZoneEvent

F64 = npt.NDArray[np.float64]

_ZONE_STATUS = {
    L.T_ZONE_NEW: "new",
    L.T_ZONE_TOUCH: "touched",
    L.T_ZONE_MITIGATED: "mitigated",
    L.T_ZONE_EXPIRED: "expired",
}


__all__ = ["SmcEventModel", "StructureEvent", "SwingEvent", "ZoneEvent", "to_events"]

SmcEventModel = SwingEvent | StructureEvent | ZoneEvent


def _one(row: F64, venue: str, symbol: str, tf: str) -> SmcEventModel:
    typ = int(row[L.EV_TYPE])
    t = int(row[L.EV_TIME])
    ref = int(row[L.EV_REF_TIME])
    up = row[L.EV_DIR] > 0
    if typ == L.T_SWING:
        return SwingEvent(
            venue=venue,
            symbol=symbol,
            tf=tf,
            pivot_time=ref,
            known_time=t,
            kind="high" if up else "low",
            label=L.LABELS[int(row[L.EV_B])],
            price=float(row[L.EV_A]),
        )
    if typ in (L.T_BOS, L.T_CHOCH):
        return StructureEvent(
            venue=venue,
            symbol=symbol,
            tf=tf,
            open_time=t,
            kind=structure_kind(typ, row[L.EV_DIR]),
            level=float(row[L.EV_A]),
            ref_swing_time=ref,
        )
    return ZoneEvent(
        venue=venue,
        symbol=symbol,
        tf=tf,
        zone_id=int(row[L.EV_ZONE]),
        kind="FVG" if row[L.EV_KIND] == L.KIND_FVG else "OB",
        direction="bullish" if up else "bearish",
        status=_ZONE_STATUS[typ],
        start_time=ref,
        at_time=t,
        top=float(row[L.EV_A]),
        bottom=float(row[L.EV_B]),
    )


def to_events(rows: F64, venue: str, symbol: str, tf: str) -> list[SmcEventModel]:
    """Typed events for event rows, in order."""
    return [_one(r, venue, symbol, tf) for r in rows]
