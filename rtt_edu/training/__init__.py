"""Training loops that run the game: the trainer, its checkpoints, batched toy runs, the HuggingFace callback."""
