"""Guards the decision stage consults before a signal may become a decision: news
calendars, USD-M funding and volatility. Each returns a :class:`~engine.guards.verdict.Verdict`
(state, reason, until when) computed from candle time only, never the wall clock."""
