"""Models for the lessons: a small MLP builder and a BERT-style encoder in pure PyTorch."""
from rtt_edu.models.bert import BertConfig, BertMLM, MaskedLMOutput
from rtt_edu.models.mlp import ACTIVATIONS, mlp

__all__ = ["mlp", "ACTIVATIONS", "BertConfig", "BertMLM", "MaskedLMOutput"]
