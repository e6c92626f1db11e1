"""Models for the lessons: a small MLP builder and a BERT-style encoder in pure PyTorch."""
