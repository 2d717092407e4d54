"""Smart-Money-Concepts: causal engine (trading) and smartmoneyconcepts compatibility mode."""
