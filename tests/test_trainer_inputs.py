"""RollToTrain refuses inputs that would train nothing, or train NaN, before its first step."""
import math
import os
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers import linear_model
from rtt_edu import CheckpointError, RollToTrain, RollToTrainError
from rtt_edu.errors import ZeroLearningRateWarning

pytestmark = pytest.mark.usefixtures("one_thread")


def loader(n=12, batch_size=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])), batch_size=batch_size)


def trainer(model, opt, **kwargs):
    return RollToTrain(model, opt, loss_fn=torch.nn.MSELoss(), progress=False, seed=0, **kwargs)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def unchanged(model, before):
    return all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


# --- an optimizer over another model's parameters ----------------------------------------------------

def test_an_optimizer_of_another_model_is_refused_when_the_trainer_is_built():
    model, other = linear_model(0), linear_model(1)
    with pytest.raises(RollToTrainError) as err:
        trainer(model, torch.optim.SGD(other.parameters(), lr=0.1))
    message = str(err.value)
    assert "optimizer=SGD" in message and "model" in message and "none of the model's 2 trainable" in message


def test_an_optimizer_over_part_of_the_model_and_extra_tensors_is_accepted():
    model = torch.nn.Sequential(linear_model(0), torch.nn.Tanh(), torch.nn.Linear(1, 1))
    extra = torch.nn.Parameter(torch.zeros(1))             # a learnable loss weight, outside the model
    head = list(model[2].parameters())
    opt = torch.optim.SGD([{"params": head}, {"params": [extra]}], lr=0.1)
    before = weights(model)
    trainer(model, opt).train(loader())
    assert not all(torch.equal(p, b) for p, b in zip(head, before[2:]))       # the head trained
    assert unchanged(model[0], before[:2])                                    # the rest was frozen by choice


def test_a_model_whose_parameters_are_all_frozen_is_refused():
    model = linear_model()
    model.requires_grad_(False)
    with pytest.raises(RollToTrainError, match=r"model=Linear: .*requires_grad=False"):
        trainer(model, torch.optim.SGD(model.parameters(), lr=0.1))


# --- save_every into a missing folder ----------------------------------------------------------------

def test_a_checkpoint_path_in_a_missing_folder_is_refused_before_the_first_step(tmp_path):
    model = linear_model()
    t = trainer(model, torch.optim.SGD(model.parameters(), lr=0.1))
    before = weights(model)
    path = tmp_path / "no such folder" / "run.pt"
    with pytest.raises(CheckpointError, match=r"checkpoint_path=.*no such folder.*is missing"):
        t.train(loader(), save_every=1, checkpoint_path=path)
    assert t.master.step == 0 and t.history.steps == [] and unchanged(model, before)
    with pytest.raises(CheckpointError, match="not a folder"):
        t.train(loader(), save_every=1, checkpoint_path=tmp_path)
    assert t.master.step == 0


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="a read-only folder needs POSIX and a non-root user")
def test_a_checkpoint_path_in_a_read_only_folder_is_refused_before_the_first_step(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        model = linear_model()
        t = trainer(model, torch.optim.SGD(model.parameters(), lr=0.1))
        with pytest.raises(CheckpointError, match="read-only"):
            t.train(loader(), save_every=2, checkpoint_path=folder / "run.pt")
        assert t.master.step == 0
    finally:
        folder.chmod(0o700)


def test_a_checkpoint_path_in_an_existing_folder_still_saves(tmp_path):
    model = linear_model()
    t = trainer(model, torch.optim.SGD(model.parameters(), lr=0.1))
    t.train(loader(), save_every=2, checkpoint_path=tmp_path / "run.pt")
    assert (tmp_path / "run.pt").exists() and t.master.step == 3


# --- what a model(**batch) returns ------------------------------------------------------------------

class DictModel(torch.nn.Module):
    """``model(**batch)`` returns a plain dict; with ``labels`` it holds a ``"loss"``."""

    def __init__(self, seed=0):
        super().__init__()
        self.linear = linear_model(seed)

    def forward(self, x, labels=None):
        out = self.linear(x)
        return {"logits": out} if labels is None else {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


class ObjectModel(DictModel):
    def forward(self, x, labels=None):
        return type("Output", (), DictModel.forward(self, x, labels))()


def rows(labels=True):
    out = []
    for x, y in loader(batch_size=1):
        out.append({"x": x[0], "labels": y[0]} if labels else {"x": x[0]})
    return DataLoader(out, batch_size=4)


def test_a_model_returning_a_dict_with_loss_trains_like_one_returning_an_object():
    runs = []
    for model_type in (DictModel, ObjectModel):
        model = model_type()
        t = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), progress=False, seed=0)
        t.train(rows(), eval_dataloader=rows())
        runs.append((weights(model), [s.loss for s in t.history.steps], t.history.evals[-1].loss))
    (w1, l1, e1), (w2, l2, e2) = runs
    assert all(torch.equal(a, b) for a, b in zip(w1, w2)) and l1 == l2 and e1 == e2 and len(l1) == 3


def test_a_dict_model_with_a_loss_fn_gets_its_logits():
    model = DictModel()
    seen = []

    def loss_fn(outputs, targets):
        seen.append(type(outputs))
        return torch.nn.functional.mse_loss(outputs, targets)

    RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=loss_fn, progress=False, seed=0) \
        .train(rows())
    assert seen == [torch.Tensor] * 3


@pytest.mark.parametrize("returns,said", [
    (lambda out: {"logits": out}, "a dict with keys ['logits']"),
    (lambda out: out, "a tensor of shape (4, 1)"),
    (lambda out: (out,), "a tuple of 1 items"),
    (lambda out: None, "it returned None"),
])
def test_a_model_without_a_loss_is_told_what_it_returned(returns, said):
    class Model(DictModel):
        def forward(self, x, labels=None):
            return returns(self.linear(x))

    model = Model()
    t = RollToTrain(model, torch.optim.SGD(model.parameters(), lr=0.1), progress=False, seed=0)
    with pytest.raises(RollToTrainError) as err:
        t.train(rows())
    assert "returned no .loss" in str(err.value) and said in str(err.value)
    assert t.master.step == 0


# --- learning rates ---------------------------------------------------------------------------------

def nan_lr(opt):
    opt.param_groups[0]["lr"].fill_(float("nan"))          # a tensor rate that went NaN in place
    return opt


@pytest.mark.parametrize("make_opt,group,shown", [
    (lambda ps: torch.optim.SGD(ps, lr=float("nan")), 0, "=nan"),
    (lambda ps: torch.optim.Adam(ps, lr=float("inf")), 0, "=inf"),
    (lambda ps: nan_lr(torch.optim.AdamW(ps, lr=torch.tensor(0.01))), 0, "=tensor(nan)"),
    (lambda ps: torch.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": float("-inf")}], lr=0.1), 1, "=-inf"),
])
def test_a_non_finite_learning_rate_is_refused_when_train_starts(make_opt, group, shown):
    model = linear_model()
    opt = make_opt(list(model.parameters()))
    t = trainer(model, opt)
    before = weights(model)
    with pytest.raises(RollToTrainError) as err:
        t.train(loader())
    assert f"optimizer.param_groups[{group}]['lr']{shown}" in str(err.value)
    assert unchanged(model, before) and t.master.step == 0 and not opt.state


def test_a_negative_learning_rate_set_after_building_the_optimizer_is_refused():
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    t = trainer(model, opt)
    opt.param_groups[0]["lr"] = -0.05                 # torch checks lr >= 0 only in the constructor
    with pytest.raises(RollToTrainError, match=r"\['lr'\]=-0.05: expected a finite learning rate >= 0"):
        t.train(loader())
    opt.param_groups[0]["lr"] = 0.05
    t.train(loader())
    assert t.master.step == 3 and all(math.isfinite(s.loss) for s in t.history.steps)


def test_a_learning_rate_of_zero_warns_unless_a_scheduler_raises_it():
    model = linear_model()
    opt = torch.optim.SGD([{"params": [model.weight]}, {"params": [model.bias], "lr": 0.0}], lr=0.1)
    with pytest.warns(ZeroLearningRateWarning, match=r"param_groups\[1\]\['lr'\]=0") as caught:
        trainer(model, opt).train(loader())
    assert len([w for w in caught if w.category is ZeroLearningRateWarning]) == 1
    assert caught[0].filename == __file__               # points at the train() call

    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    warm_up = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: step / 10)      # starts at lr = 0
    assert opt.param_groups[0]["lr"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroLearningRateWarning)
        trainer(model, opt, scheduler=warm_up).train(loader())
    assert opt.param_groups[0]["lr"] > 0
