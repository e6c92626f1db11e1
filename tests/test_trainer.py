"""RollToTrain: the Quick Start, both modes, accumulation windows, determinism, evaluation."""
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rtt_edu import History, RollToTrain, SavingThrow
from rtt_edu.errors import ZeroLearningRateWarning
from rtt_edu.training.history_file import load_history, save_history


class YourTransformerModel(torch.nn.Module):
    """A HuggingFace-style model: ``model(**batch)`` returns an object with ``.loss`` and ``.logits``."""

    def __init__(self, vocab=20, classes=3):
        super().__init__()
        self.embed = torch.nn.EmbeddingBag(vocab, 8)
        self.head = torch.nn.Linear(8, classes)

    def forward(self, input_ids, labels=None):
        logits = self.head(self.embed(input_ids))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SimpleNamespace(loss=loss, logits=logits)


def dict_loader(n=48, batch_size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 20, (n, 5), generator=g)
    labels = ids[:, 0] % 3
    rows = [{"input_ids": ids[i], "labels": labels[i]} for i in range(n)]
    return DataLoader(rows, batch_size=batch_size, shuffle=False)


def regression(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    return TensorDataset(x, y)


def seeded_linear(seed=0):
    torch.manual_seed(seed)      # test-side seeding: the library never does this
    return torch.nn.Linear(3, 1)


def test_quick_start_runs_as_written():
    from rtt_edu import ExperienceSystem, RollToTrain, Wizard  # noqa: F401  (the Quick Start's import)
    torch.manual_seed(0)
    model = YourTransformerModel()
    train_dataloader, eval_dataloader = dict_loader(), dict_loader(n=16, seed=1)

    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=1000)

    trainer = RollToTrain(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        intelligence=15,  # Your model's intelligence stat
        character_class=Wizard(level=1),  # Choose your class
        use_xp_system=True
    )

    history = trainer.train(train_dataloader, eval_dataloader)
    assert isinstance(history, History) and len(history.steps) == 6
    assert all(r.total - r.natural >= 2 for r in history.steps)          # +2 intelligence at least
    assert len(history.evals) == 1 and 0.0 <= history.evals[0].accuracy <= 1.0
    assert trainer.experience is not None and trainer.experience.level >= 1
    assert scheduler.last_epoch == 6                                       # one scheduler step per optimizer step


@pytest.mark.parametrize("n_batches,window,expected_sizes", [(10, 4, [4, 4, 2]), (8, 4, [4, 4]), (3, 5, [3])])
def test_accumulation_windows_and_the_last_partial_window(n_batches, window, expected_sizes):
    data = regression(n=n_batches * 4)
    loader = DataLoader(data, batch_size=4, shuffle=False)
    model = seeded_linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    trainer = RollToTrain(model, opt, sched, rules="plain", mode="per_accumulation_step",
                          accumulation_steps=window, loss_fn=torch.nn.MSELoss(), seed=0, progress=False)

    # the oracle: plain PyTorch, gradients averaged over each window's batches
    ref = seeded_linear()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=1, gamma=0.9)
    batches = list(loader)
    start = 0
    for size in expected_sizes:
        ref_opt.zero_grad()
        for x, y in batches[start:start + size]:
            (torch.nn.functional.mse_loss(ref(x), y) / size).backward()
        ref_opt.step()
        ref_sched.step()
        start += size

    history = trainer.train(loader)
    assert len(history.steps) == len(expected_sizes)
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert sched.last_epoch == len(expected_sizes)


def test_one_roll_decides_a_whole_window():
    loader = DataLoader(regression(n=64), batch_size=4, shuffle=False)
    rule = SavingThrow.preset("classroom")
    model = seeded_linear()
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.01), rules=rule,
                          mode="per_accumulation_step", accumulation_steps=4, loss_fn=torch.nn.MSELoss(),
                          seed=3, progress=False)
    history = trainer.train(loader)
    from rtt_edu import DiceRoller
    roller = DiceRoller(seed=3)
    assert [r.natural for r in history.steps] == [roller.roll("d20").natural for _ in range(4)]


def test_per_mini_batch_matches_attach_in_a_hand_written_loop():
    from rtt_edu import attach
    loader = DataLoader(regression(), batch_size=8, shuffle=False)
    model_a, model_b = seeded_linear(), seeded_linear()
    opt_a = torch.optim.Adam(model_a.parameters(), lr=0.05)
    opt_b = torch.optim.Adam(model_b.parameters(), lr=0.05)
    trainer = RollToTrain(model_a, opt_a, rules="classroom", loss_fn=torch.nn.MSELoss(), seed=9, progress=False)
    history = trainer.train(loader, epochs=2)
    handle = attach(opt_b, "classroom", seed=9)
    for _ in range(2):
        for x, y in loader:
            opt_b.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model_b(x), y)
            loss.backward()
            handle.observe_loss(loss)
            opt_b.step()
        handle.end_epoch()
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(p, q)
    assert [r.multiplier for r in history.steps] == [r.multiplier for r in handle.records]
    assert [r.loss for r in history.steps] == [r.loss for r in handle.records]
    assert [r.epoch for r in history.steps] == [0] * 5 + [1] * 5


def run_once(seed):
    loader = DataLoader(regression(), batch_size=8, shuffle=False)
    model = seeded_linear()
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rules="seed-code",
                          loss_fn=torch.nn.MSELoss(), seed=seed, progress=False)
    history = trainer.train(loader, loader, epochs=3)
    return history, [p.detach().clone() for p in model.parameters()]


def test_same_seed_same_rolls_history_and_weights():
    h1, w1 = run_once(seed=4)
    h2, w2 = run_once(seed=4)
    h3, w3 = run_once(seed=5)
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(w1, w2))
    assert [r.natural for r in h1.steps] != [r.natural for r in h3.steps]


def test_history_json_round_trip(tmp_path):
    history, _ = run_once(seed=1)
    path = tmp_path / "history.json"
    save_history(history, path)
    again = load_history(path)
    assert again == history and again.steps[3].multiplier == history.steps[3].multiplier
    assert [e.loss for e in again.evals] == [e.loss for e in history.evals]


def test_losses_are_recorded_as_floats_equal_to_the_batch_losses():
    loader = DataLoader(regression(), batch_size=8, shuffle=False)
    model = seeded_linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)   # lr 0: the weights never move
    trainer = RollToTrain(model, opt, rules="plain", loss_fn=torch.nn.MSELoss(), seed=0, progress=False)
    with pytest.warns(ZeroLearningRateWarning):        # on purpose here
        history = trainer.train(loader)
    with torch.no_grad():
        expected = [torch.nn.functional.mse_loss(model(x), y).item() for x, y in loader]
    assert history.losses == pytest.approx(expected, rel=1e-6)


def test_train_twice_continues_the_step_and_epoch_counts():
    loader = DataLoader(regression(), batch_size=8, shuffle=False)
    model = seeded_linear()
    trainer = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=torch.nn.MSELoss(),
                          seed=0, progress=False)
    trainer.train(loader)
    trainer.train(loader, epochs=2)
    assert [r.step for r in trainer.history.steps] == list(range(15))
    assert trainer.history.steps[-1].epoch == 2


@pytest.mark.parametrize("kwargs,needle", [
    (dict(mode="per_epoch"), "mode='per_epoch'"), (dict(accumulation_steps=0, mode="per_accumulation_step"),
                                                   "accumulation_steps=0"),
    (dict(accumulation_steps=4), "accumulation_steps=4"), (dict(loss_fn="mse"), "loss_fn='mse'"),
    (dict(intelligence=31), "score=31"), (dict(progress="yes"), "progress='yes'"),
    (dict(rules="seed-wiki"), "name='seed-wiki'"), (dict(target="loss"), "target='loss'"),
])
def test_bad_trainer_arguments_are_refused(kwargs, needle):
    model = seeded_linear()
    with pytest.raises((ValueError, TypeError)) as err:
        RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)
    assert needle in str(err.value)


def test_bad_model_optimizer_and_train_arguments():
    model = seeded_linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="model="):
        RollToTrain("bert", opt)
    with pytest.raises(TypeError, match="optimizer="):
        RollToTrain(model, "adamw")
    trainer = RollToTrain(model, opt, loss_fn=torch.nn.MSELoss(), progress=False)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="epochs=0"):
        trainer.train(DataLoader(regression()), epochs=0)
    with pytest.raises(TypeError, match="train_dataloader=None"):
        trainer.train(None)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
