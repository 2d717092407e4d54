"""Settings of the pipeline plumbing tests: a rule that fires often, with costs, exposure and
CHOP not in the way."""

from __future__ import annotations

from decimal import Decimal

from greenlight.core.settings import RiskSettings, Settings, StrategySettings, VolatilitySettings

# Plumbing tests: a rule that fires often, with costs, exposure and CHOP not in the way.
LOOSE_RISK = RiskSettings(
    max_open_positions=100,
    max_cost_fraction_of_r=Decimal(10),
    max_symbol_risk=Decimal(1),
    max_total_risk=Decimal(1),
    daily_loss_cap=Decimal(1),
)


SETTINGS = Settings(
    risk=LOOSE_RISK,
    strategy=StrategySettings(agent="starter"),
    volatility=VolatilitySettings(block=("SHOCK",)),
)
