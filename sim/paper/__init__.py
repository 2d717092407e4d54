"""The paper venue: the simulator's exchange side priced by a live market-data source.

``greenlight paper`` serves the same Binance-compatible REST, market streams, WebSocket API
and user-data streams as ``greenlight sim`` (orders, balances, order lists, matching and
faults are the simulator's own code), but its market is not a file replay: it follows the
public kline streams of ``venue.paper.market_url`` (Binance, its testnet, or another
``greenlight sim``), relays them to its clients, caches their klines, and matches the resting
orders along the prices they report, with the backtester's slippage on market-type fills.
Its clock is the source's. It never sends anything but public market-data requests there.

Modules: ``frames`` (kline frames and rows), ``path`` (a price path between two updates),
``klines`` (the kline cache behind ``GET /api/v3/klines``), ``feed`` (the market clock),
``exchange`` (matching with slippage), ``upstream`` (the public-only client), ``state``,
``rest`` and ``server``.
"""
