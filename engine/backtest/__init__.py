"""``greenlight backtest``: candle files through the live stages, agent, guards, sizing and
bracket builder, filled with the simulator's matching rules (see :mod:`engine.backtest.run`)."""
