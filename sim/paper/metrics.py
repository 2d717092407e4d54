"""The paper venue's Prometheus metrics, read from its state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from greenlight.core.metrics import Reading, declare, watch
from sim.paper.state import PaperState


class Serving(Protocol):
    """What the readings need of the server: its state once started."""

    @property
    def state(self) -> PaperState | None:
        """The venue's state (``None`` before it connected to its source)."""


declare("greenlight_paper_source_connected", "gauge", "1 while the market stream is connected")
declare("greenlight_paper_source_reconnects", "counter", "Market stream reconnections")
declare("greenlight_paper_candles", "counter", "Candles closed on the followed market")
declare("greenlight_paper_user_messages", "counter", "User-data stream messages sent")


def _paper_readings(server: Serving) -> Iterator[Reading]:
    st = server.state
    if st is None:
        return
    yield "greenlight_paper_source_connected", (), 1.0 if st.feed.connected else 0.0
    yield "greenlight_paper_source_reconnects", (), float(st.feed.reconnects)
    yield "greenlight_paper_candles", (), float(st.feed.replayed)
    conns = {id(s.conn): s.conn for s in st.users.subs}
    yield "greenlight_paper_user_messages", (), float(sum(c.user_sent for c in conns.values()))


def watch_paper(server: Serving) -> None:
    """Include ``server`` in the scrape."""
    watch(server, _paper_readings)
