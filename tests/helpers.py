"""Seeded building blocks shared by the tests. Seeds live in tests, never in library code."""
import torch


def seeded(model: torch.nn.Module, seed: int = 0, scale: float = 1.0) -> torch.nn.Module:
    """``model`` with every parameter drawn from N(0, scale²) by a generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return model


def linear_model(seed: int = 0) -> torch.nn.Module:
    """The tests' smallest model: a seeded Linear(3, 1)."""
    return seeded(torch.nn.Linear(3, 1), seed)


def one_thread_fixture():
    """Training tests on one thread: toy models gain nothing from more, and shared cores spin-wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
