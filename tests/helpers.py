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


def regression_batch(step: int, noise: float = 0.0) -> tuple:
    """Batch ``step`` of a seeded linear regression in 3 features: 16 rows, y = x·(1, −2, 0.5) + noise."""
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(16, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return x, (y + noise * torch.randn(16, 1, generator=g)) if noise else y


def train_attached(steps: int, rules, make_opt, observe: bool = True, seed: int = 0, noise: float = 0.0,
                   **attach_kwargs) -> tuple:
    """Train :func:`linear_model` on :func:`regression_batch` with the dice attached; (model, handle).

    A rule that climbs the loss is what some tests want, so its ``NegativeDriftWarning`` is silenced.
    """
    import warnings

    from rtt_edu import NegativeDriftWarning, attach
    model = linear_model()
    opt = make_opt(model.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        handle = attach(opt, rules, seed=seed, **attach_kwargs)
    for t in range(steps):
        opt.zero_grad()
        x, y = regression_batch(t, noise)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if observe:
            handle.observe_loss(loss)
        opt.step()
    return model, handle


def same(a, b, where="state"):
    """Nested equality; tensors bit-identical, NaN equal to NaN."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a.nan_to_num(), b.nan_to_num()) and torch.equal(a.isnan(), b.isnan()), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: {sorted(a)} != {sorted(b)}"
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert isinstance(b, float) and b != b, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def passes(feedback):
    """Assert a lesson's self-check said right (``✔ right: ...``); its message."""
    assert feedback.ok and bool(feedback) and repr(feedback).startswith("✔ right"), feedback
    return feedback.message


def fails(feedback, *words):
    """Assert a lesson's self-check said not yet (``✘ not yet: ...``) with each of ``words`` in its hint."""
    assert not feedback.ok and not bool(feedback) and repr(feedback).startswith("✘ not yet"), feedback
    for word in words:
        assert word in feedback.message, (word, feedback.message)
    return feedback.message
