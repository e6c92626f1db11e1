"""Shared fixtures: tiny seeded models. Seeds live in tests, never in library code."""
import pytest
import torch

from helpers import linear_model, one_thread_fixture

one_thread = pytest.fixture(one_thread_fixture)


@pytest.fixture
def tiny_sgd():
    model = linear_model()
    return model, torch.optim.SGD(model.parameters(), lr=0.1)
