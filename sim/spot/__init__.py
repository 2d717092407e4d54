"""The spot half of the simulator: matching engine, order lists, balances, the ``/api/v3``
REST endpoints, market streams and the WebSocket API user-data stream."""
