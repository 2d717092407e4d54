"""Decision stage: starter rule and bracket sizing."""
