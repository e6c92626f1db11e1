"""The game's dice and rules: exact distributions, no torch."""
