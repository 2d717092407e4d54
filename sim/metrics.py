"""The simulator's Prometheus metrics, read from the replay at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from greenlight.core.metrics import Reading, declare, watch
from sim.admin import status_of
from sim.state import SimState


class Served(Protocol):
    """What the scrape reads: a running simulator's state (``None`` before it started)."""

    @property
    def state(self) -> SimState | None:
        """The simulator's state."""
        ...


declare("greenlight_sim_candles_replayed", "counter", "Candles replayed", "market")
declare("greenlight_sim_candles", "gauge", "Candles the replay holds", "market")
declare("greenlight_sim_paused", "gauge", "1 while the replay is paused")
declare("greenlight_sim_candles_per_second", "gauge", "Configured replay speed")
declare("greenlight_sim_user_messages", "counter", "User-data stream messages sent")


def _sim_readings(server: Served) -> Iterator[Reading]:
    if server.state is None:
        return
    st = status_of(server.state)  # as GET /sim/admin/status shows it
    yield "greenlight_sim_candles_replayed", ("spot",), st["replayed"]
    yield "greenlight_sim_candles", ("spot",), st["total"]
    yield "greenlight_sim_paused", (), 1.0 if st["paused"] else 0.0
    yield "greenlight_sim_candles_per_second", (), st["candles_per_second"]
    yield "greenlight_sim_user_messages", (), st["user_messages_sent"]
    fut = st.get("futures")
    if fut:
        yield "greenlight_sim_candles_replayed", ("usdm",), fut["replayed"]
        yield "greenlight_sim_candles", ("usdm",), fut["total"]


def watch_sim(server: Served) -> None:
    """Include ``server`` in the scrape."""
    watch(server, _sim_readings)
