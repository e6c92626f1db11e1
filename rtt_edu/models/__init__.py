"""Models for the lessons: a small MLP builder and a BERT-style encoder in pure PyTorch."""
from .mlp import *   # noqa: F401,F403
from .bert import *  # noqa: F401,F403
