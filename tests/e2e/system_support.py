"""Settings the end-to-end tests start the product with."""

from __future__ import annotations

# The plumbing under test needs decisions often: the starter rule, costs not weighed against
# R, only SHOCK blocking (the product's rule is exercised by test_demo_with_the_product_rule).
PLUMBING = {
    "GREENLIGHT_STRATEGY_AGENT": "starter",
    "GREENLIGHT_RISK_MAX_COST_FRACTION_OF_R": "10",
    "GREENLIGHT_VOLATILITY_BLOCK": '["SHOCK"]',
}
