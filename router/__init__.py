"""Order router: the only process that places orders.

Layout (three layers, each importing only those below it; no import cycles):

- process   ``service`` (wiring of venues, DB, HTTP API, LISTEN ``gl_approved``, sweeps,
            tasks), ``api`` (``/v1/brackets|kill|resume|state``), ``wiring`` (the edge: real
            venues from settings, the ``Core`` with its markets), ``usdm_service`` (the
            USD-M user stream), ``client`` (``RouterClient`` for the bot)
- flow      ``brackets`` (APPROVED → ROUTED, entry), ``lifecycle`` (venue reports → OPEN,
            protect, CLOSED, FAILED), ``entries`` (entry time-to-live, working entries read
            every second), ``liveness`` (a way out of every waiting state), ``reconcile`` /
            ``reconcile_check`` (DB vs venue), ``killswitch``, ``admission``, ``guards``,
            ``equity``, ``venue_watch``
- markets   ``markets.base.Market`` and its two implementations, ``markets.spot`` and
            ``markets.usdm``: how a market plans and sends an entry, protects the position,
            closes when flat, halts, reconciles and values the account
- ground    ``snapshot`` (a decision, its orders and fills, read once under the lock),
            ``core`` (pool, clock, markets, locks), ``reports`` (venue answers → orders,
            fills, positions), ``sender`` (record-then-send; unknown outcome → query, adopt or
            resend once), ``store`` / ``ledger``, ``ladder``, ``order_budget``,
            ``bracket_checks``, ``errors``, ``venues/`` (Binance spot and USD-M
            adapters; only they read Binance's codes and messages)

Every step takes the decision's snapshot; the market is chosen once from it
(``core.market(snapshot.market)``). Spot MARKET entries are protected by one OCO per
take-profit rung after the fill; spot LIMIT entries go out as one OTOCO (pending rung 1, the
other rungs as it fills, unfilled remainder cancelled at the decision's ``expires_at``);
USD-M brackets get a ``STOP_MARKET closePosition`` plus a reduce-only ``TAKE_PROFIT_MARKET``
ladder on the algo endpoint. On both markets a partial entry fill is protected at once and
the protection is re-sized with every further fill, so the stop covers exactly the open
position. Working entries are also read from the venue every second, so fills a silent user
stream lost are still protected. A 418 stops every request on both markets until
Retry-After (alerted); -1021 re-syncs the clock up to three times. Guard thresholds come from
``[guards]`` in the settings.

Safety protocol: every order row is written (``NEW_PENDING``) before its request leaves;
client ids are ``gl-<decision>-<leg>`` so a retry is recognised by the venue and by the
``orders.client_order_id`` UNIQUE constraint; every fill is keyed by its trade id; positions
are recomputed from fills, so replaying any event changes nothing.
"""
