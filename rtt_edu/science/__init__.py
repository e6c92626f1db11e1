"""Measuring what the dice do: statistics, seeded experiments, the exact quadratic."""
