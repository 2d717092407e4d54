"""WebSocket fan-out both markets share: connections and their queues, market and user-data
hubs, and the ``pause_user_stream`` gate."""
