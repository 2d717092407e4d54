"""Order router: the only process that places orders.

Layout (one idea per file):

- ``service``   process wiring: venue, DB, HTTP API, LISTEN ``gl_approved``, sweeps, tasks
- ``api``       aiohttp ``/v1/brackets|kill|resume|state`` (loopback, bearer token)
- ``client``    ``RouterClient`` for the bot
- ``brackets``  APPROVED → ROUTED (one atomic UPDATE) and the entry order
- ``lifecycle`` venue reports → orders/fills/positions; protect (OCO per rung); close
- ``ladder``    re-split take-profit rungs against the net filled quantity and the filters
- ``sender``    record-then-send; unknown outcome → wait out recvWindow, query, adopt or
                resend once
- ``reconcile`` after start / user-stream reconnect: DB vs venue, differences alerted
- ``killswitch`` manual and automatic halts (error burst, user stream down)
- ``store`` / ``ledger`` SQL for decisions, orders, alerts, audit; fills and positions
- ``venues/``   the ``SpotVenue`` seam and the Binance spot adapter (REST + WS-API user data)

Safety protocol: every order row is written (``NEW_PENDING``) before its request leaves;
client ids are ``gl-<decision>-<leg>`` so a retry is recognised by the venue and by the
``orders.client_order_id`` UNIQUE constraint; every fill is keyed by its trade id; positions
are recomputed from fills, so replaying any event changes nothing.
"""
