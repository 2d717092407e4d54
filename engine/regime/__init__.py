"""Market regime (TREND / RANGE / SHOCK) from ADX and causal volatility percentiles."""
