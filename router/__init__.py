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
- ``futures``   USD-M: leverage/margin set-up, MARKET entry, protection on the algo endpoint
                (``STOP_MARKET closePosition`` ``gl-<d>-SL`` + reduce-only
                ``TAKE_PROFIT_MARKET`` ``gl-<d>-TP<i>``)
- ``futures_protect`` USD-M stop once + take-profit ladder re-sized to the open position
- ``protect``   spot: one OCO per rung, re-sized (cancel first, then place) to the open position
- ``otoco``     spot LIMIT entries as OTOCO (pending rung 1), entry time-to-live
- ``futures_lifecycle`` algo reports → rows/fills; flat → cancel leftovers → CLOSED; reduce-only
                market exits (kill flatten ``X``, crossed trigger ``M<leg>``)
- ``reconcile_usdm`` USD-M orders/algos, positions (positionRisk) and wallet vs the DB
- ``guards``    automatic trips: daily drawdown (equity snapshots), stale candles
- ``equity``    ``control.equity_quote`` (spot) and ``control.equity_quote_usdm``
- ``usdm_service`` the USD-M adapter, sender and listen-key stream inside the router process
- ``venues/``   the ``SpotVenue`` / ``FuturesVenue`` seams; Binance spot (REST + WS-API user
                data) and USD-M (``/fapi`` REST + listen-key user data) adapters sharing
                ``binance_http`` (signing, time offset, weights, error classification)

Routing is by ``bracket.market``: spot MARKET entries take the OCO-after-fill path, spot
LIMIT entries go out as one OTOCO (``otoco``: pending rung 1, the other rungs as it fills,
unfilled remainder cancelled at the decision's ``expires_at``); USD-M brackets the futures
path. On both markets a partial entry fill is protected at once and the protection is
re-sized with every further fill (``protect`` / ``futures_protect``), so the stop covers
exactly the open position. Working entries are also read from the venue every second, so
fills a silent user stream lost are still protected. A 418 stops every request on both
markets until Retry-After (alerted); -1021 re-syncs the clock up to three times. Guard
thresholds come from ``[guards]`` in the settings.

Safety protocol: every order row is written (``NEW_PENDING``) before its request leaves;
client ids are ``gl-<decision>-<leg>`` so a retry is recognised by the venue and by the
``orders.client_order_id`` UNIQUE constraint; every fill is keyed by its trade id; positions
are recomputed from fills, so replaying any event changes nothing.
"""
