"""Models for the lessons: a small MLP builder and a BERT-style encoder in pure PyTorch."""
from .bert import BertConfig, BertMLM, MaskedLMOutput
from .mlp import ACTIVATIONS, mlp

__all__ = ["mlp", "ACTIVATIONS", "BertConfig", "BertMLM", "MaskedLMOutput"]
