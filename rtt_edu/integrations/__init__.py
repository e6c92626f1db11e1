"""Bridges to other training engines (HuggingFace Trainer, torch.distributed)."""
