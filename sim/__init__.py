"""Binance-compatible exchange simulator."""
