"""Data generated from a seed, never downloaded: 2-D toy sets and a fantasy-sentence grammar."""
