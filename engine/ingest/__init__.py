"""Market ingestion: websocket klines with REST backfill."""
