"""Shared fixtures: tiny seeded models. Seeds live in tests, never in library code."""
import pytest
import torch


@pytest.fixture
def tiny_sgd():
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model, torch.optim.SGD(model.parameters(), lr=0.1)
