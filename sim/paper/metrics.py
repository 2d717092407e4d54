"""The paper venue's Prometheus metrics, read from its state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from engine.metrics import Reading, declare, watch

if TYPE_CHECKING:
    from sim.paper.server import PaperServer

declare("greenlight_paper_source_connected", "gauge", "1 while the market stream is connected")
declare("greenlight_paper_source_reconnects", "counter", "Market stream reconnections")
declare("greenlight_paper_candles", "counter", "Candles closed on the followed market")
declare("greenlight_paper_user_messages", "counter", "User-data stream messages sent")


def _paper_readings(server: PaperServer) -> Iterator[Reading]:
    st = server.state
    if st is None:
        return
    yield "greenlight_paper_source_connected", (), 1.0 if st.feed.connected else 0.0
    yield "greenlight_paper_source_reconnects", (), float(st.feed.reconnects)
    yield "greenlight_paper_candles", (), float(st.feed.replayed)
    conns = {id(s.conn): s.conn for s in st.users.subs}
    yield "greenlight_paper_user_messages", (), float(sum(c.user_sent for c in conns.values()))


def watch_paper(server: PaperServer) -> None:
    """Include ``server`` in the scrape."""
    watch(server, _paper_readings)
