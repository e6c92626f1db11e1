"""The dice in the HuggingFace Trainer (RollToTrainCallback) and HF models in RollToTrain.

Tiny BERTs are built from a BertConfig with random weights (never a download). The oracles are
independent of the library: a hand-written loop that sets lr × m_k for step k, with m_k read
off a DiceRoller with the same seed, or the plain Trainer step times m.
"""
import copy
import importlib.util
import sys

import pytest
import torch

pytest.importorskip("transformers", reason="the 'hf' extra (transformers, accelerate) is not installed")
pytest.importorskip("accelerate", reason="the 'hf' extra (transformers, accelerate) is not installed")

from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

from rtt_edu import DiceRoller, ExperienceSystem, RollToTrain, SavingThrow, attach  # noqa: E402
from rtt_edu.engine.hook import unwrap_optimizer  # noqa: E402
from rtt_edu.training import hf  # noqa: E402
from rtt_edu.training.hf import RollToTrainCallback  # noqa: E402

RULES = SavingThrow.preset("classroom")
LR = 1e-2
VOCAB, LENGTH = 40, 8


def tiny_config(**changes) -> BertConfig:
    return BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=LENGTH, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, **changes)


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)                       # tests seed; the library never does
    return BertForSequenceClassification(tiny_config(num_labels=2)).eval()


def examples(n: int, seed: int = 0) -> list:
    """``n`` rows as a list of dicts: token ids, a mask with some padding, a 0/1 label."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, LENGTH), generator=g)
    lengths = torch.randint(LENGTH // 2, LENGTH + 1, (n,), generator=g)
    mask = (torch.arange(LENGTH)[None, :] < lengths[:, None]).long()
    labels = (ids[:, 0] % 2).long()
    return [{"input_ids": ids[i] * mask[i], "attention_mask": mask[i], "labels": labels[i]} for i in range(n)]


def batch_of(rows: list) -> dict:
    return {k: torch.stack([r[k] for r in rows]) for k in rows[0]}


def train_with_trainer(model, tmp_path, data, callbacks=(), steps=1, batch=None, accumulation=1, **args):
    """Train with the Trainer: a constant LR, the whole dataset as one batch per epoch by default."""
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=batch or len(data),
                             num_train_epochs=steps, learning_rate=LR, lr_scheduler_type="constant",
                             gradient_accumulation_steps=accumulation, logging_steps=1, save_strategy="no",
                             report_to=[], use_cpu=True, disable_tqdm=True, seed=0, **args)
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=list(callbacks))
    trainer.train()
    return trainer


def multipliers_of(seed: int, n: int, bonus: int = 0) -> list:
    """The first ``n`` multipliers of ``RULES`` rolled by a DiceRoller(seed): the oracle's dice."""
    roller = DiceRoller(seed)
    return [RULES.multiplier(roller.roll("d20").natural, bonus) for _ in range(n)]


def seed_with_first_multiplier(m: float) -> int:
    return next(s for s in range(1000) if multipliers_of(s, 1)[0] == m)


def delta(after, before) -> list:
    return [a.detach() - b.detach() for a, b in zip(after.parameters(), before.parameters())]


# --- the callback under the Trainer -----------------------------------------------------------

@pytest.mark.parametrize("m", [0.25, -0.5])
def test_a_trainer_step_with_multiplier_m_is_m_times_the_plain_trainer_step(classifier, tmp_path, m):
    data = examples(8)
    plain = copy.deepcopy(classifier)
    train_with_trainer(plain, tmp_path / "plain", data, weight_decay=0.1, max_grad_norm=1.0)
    dice_model = copy.deepcopy(classifier)
    dice = RollToTrainCallback(rules=RULES, seed=seed_with_first_multiplier(m), on_nonfinite="off")
    train_with_trainer(dice_model, tmp_path / "dice", data, callbacks=[dice], weight_decay=0.1, max_grad_norm=1.0)
    assert [r.multiplier for r in dice.records] == [m]
    changed = 0
    for got, want in zip(delta(dice_model, classifier), delta(plain, classifier)):
        torch.testing.assert_close(got, m * want, rtol=1e-4, atol=1e-8)
        changed += bool(want.abs().max() > 0)
    assert changed > 10                       # the step really moved the weights


def test_trainer_with_the_callback_matches_a_loop_scaling_lr_by_the_rolls(classifier, tmp_path):
    steps, seed = 6, 7
    data = examples(8, seed=1)
    model = copy.deepcopy(classifier)
    dice = RollToTrainCallback(rules=RULES, seed=seed, on_nonfinite="off")
    trainer = train_with_trainer(model, tmp_path, data, callbacks=[dice], steps=steps, max_grad_norm=0.0)

    # the oracle: AdamW by hand, lr × m_k at step k, m_k from a DiceRoller with the same seed
    want = multipliers_of(seed, steps)
    assert len(set(want)) > 1
    reference = copy.deepcopy(classifier).train()
    optimizer = torch.optim.AdamW(reference.parameters(), lr=LR, weight_decay=0.0)
    losses = []
    for m in want:
        loss = reference(**batch_of(data)).loss
        loss.backward()
        optimizer.param_groups[0]["lr"] = LR * m
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    for got, ref in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-6)

    rolls = DiceRoller(seed)
    assert [r.natural for r in dice.records] == [rolls.roll("d20").natural for _ in range(steps)]
    assert [r.multiplier for r in dice.records] == want
    assert [r.step for r in dice.records] == list(range(steps))
    assert [r.epoch for r in dice.records] == list(range(steps))        # one step per epoch here
    assert [r.loss for r in dice.records] == pytest.approx(losses, rel=1e-4)
    assert trainer.optimizer.param_groups[0]["lr"] == LR                # restored after every step
    logged = [e for e in trainer.state.log_history if "rtt/multiplier" in e]
    assert [e["rtt/multiplier"] for e in logged] == want
    assert [e["rtt/natural"] for e in logged] == [r.natural for r in dice.records]
    assert [e["step"] for e in logged] == list(range(1, steps + 1))
    assert all(sum(e[f"rtt/{o}"] for o in hf.LOGGED_OUTCOMES) == 1 for e in logged)


def test_one_roll_per_optimizer_step_under_gradient_accumulation(classifier, tmp_path):
    dice = RollToTrainCallback(rules=RULES, seed=3, experience=ExperienceSystem(xp_scale=10.0))
    trainer = train_with_trainer(copy.deepcopy(classifier), tmp_path, examples(8), callbacks=[dice],
                                 batch=2, accumulation=2)
    assert trainer.state.global_step == len(dice.records) == 2
    assert all(r.loss is not None for r in dice.records)
    bonus = 2                                                     # the proficiency bonus at level 1
    assert dice.records[0].multiplier == multipliers_of(3, 1, bonus)[0]
    logged = [e for e in trainer.state.log_history if "rtt/xp" in e]
    assert len(logged) == 2 and logged[-1]["rtt/xp"] == dice.experience.xp
    assert logged[-1]["rtt/level"] == dice.experience.level


def test_callback_state_dict_resumes_the_same_rolls(classifier, tmp_path):
    dice = RollToTrainCallback(rules=RULES, seed=5, on_nonfinite="off")
    train_with_trainer(copy.deepcopy(classifier), tmp_path, examples(4), callbacks=[dice], steps=3)
    path = tmp_path / "dice.pt"
    torch.save(dice.state_dict(), path)
    resumed = RollToTrainCallback(rules=RULES, seed=99, on_nonfinite="off")
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert [r.to_dict() for r in resumed.records] == [r.to_dict() for r in dice.records]
    assert resumed.master.roller.roll("d20").natural == dice.master.roller.roll("d20").natural
    assert resumed.master.step == 3


def test_the_callback_keeps_a_bounded_history_and_still_logs_every_step(classifier, tmp_path):
    from rtt_edu import History
    steps, seed = 6, 7
    full = RollToTrainCallback(rules=RULES, seed=seed, on_nonfinite="off")
    train_with_trainer(copy.deepcopy(classifier), tmp_path, examples(4), callbacks=[full], steps=steps)
    dice = RollToTrainCallback(rules=RULES, seed=seed, on_nonfinite="off", history=History(max_steps=2))
    trainer = train_with_trainer(copy.deepcopy(classifier), tmp_path, examples(4), callbacks=[dice], steps=steps)
    assert dice.records == full.records[-2:] and dice.history.total_steps == steps
    assert dice.history.outcome_counts() == full.history.outcome_counts()
    logged = [e for e in trainer.state.log_history if "rtt/multiplier" in e]
    assert [e["rtt/multiplier"] for e in logged] == [r.multiplier for r in full.records]
    resumed = RollToTrainCallback(rules=RULES, seed=1, on_nonfinite="off", history=History(max_steps=2))
    resumed.load_state_dict(torch.load(_saved(dice.state_dict(), tmp_path), weights_only=True))
    assert resumed.records == dice.records and resumed.history.summary() == dice.history.summary()
    with pytest.raises(TypeError, match="history='last:2'"):
        RollToTrainCallback(history="last:2")


def _saved(state, tmp_path):
    torch.save(state, tmp_path / "dice.pt")
    return tmp_path / "dice.pt"


def test_a_callback_state_that_does_not_fit_changes_nothing(classifier, tmp_path):
    from rtt_edu import CheckpointError
    from rtt_edu.party.classes import Wizard
    source = RollToTrainCallback(rules=RULES, seed=5, on_nonfinite="off", experience=True)
    train_with_trainer(copy.deepcopy(classifier), tmp_path, examples(4), callbacks=[source], steps=2)
    state = source.state_dict()
    target = RollToTrainCallback(rules=RULES, seed=9, on_nonfinite="off", character_class=Wizard(level=3))
    def plain(dice):     # everything a refused load must leave alone, as plain data
        return copy.deepcopy((dice.master.state_dict(), dice.history.state_dict(), dice._logged))

    before = plain(target)
    with pytest.raises(CheckpointError,
                       match=r"participants are \['ExperienceSystem'\] but this trainer has \['Wizard'\]"):
        target.load_state_dict(state)
    broken = copy.deepcopy(state)
    broken["master"]["participants"][0].pop("xp")
    other = RollToTrainCallback(rules=RULES, seed=9, on_nonfinite="off", experience=True)
    other_before = plain(other)
    with pytest.raises(CheckpointError, match="participant 0"):
        other.load_state_dict(broken)
    assert plain(target) == before and plain(other) == other_before


@pytest.fixture
def accelerator():
    """accelerate's wrappers need its process state (the Trainer makes the same one: CPU)."""
    from accelerate import Accelerator
    return Accelerator(cpu=True)


def test_unwrap_optimizer_finds_the_torch_optimizer_inside_accelerate(accelerator):
    from accelerate.optimizer import AcceleratedOptimizer
    inner = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert unwrap_optimizer(AcceleratedOptimizer(inner, device_placement=False)) is inner
    assert unwrap_optimizer(inner) is inner
    with pytest.raises(TypeError, match="optimizer"):
        unwrap_optimizer("adamw")


def test_attach_to_accelerates_optimizer_scales_each_update_by_its_roll(accelerator):
    from accelerate.optimizer import AcceleratedOptimizer
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=g), torch.randn(16, 1, generator=g)
    start = torch.nn.Linear(3, 1)
    dice_model, plain_model = copy.deepcopy(start), copy.deepcopy(start)
    wrapped = AcceleratedOptimizer(torch.optim.SGD(dice_model.parameters(), lr=LR), device_placement=False)
    handle = attach(wrapped, RULES, seed=2, on_nonfinite="off")
    plain = torch.optim.SGD(plain_model.parameters(), lr=LR)
    for m in multipliers_of(2, 4):
        for model, optimizer in ((dice_model, wrapped), (plain_model, plain)):
            torch.nn.functional.mse_loss(model(x), y).backward()
            if optimizer is plain:
                plain.param_groups[0]["lr"] = LR * m
            optimizer.step()
            optimizer.zero_grad()
    assert [r.multiplier for r in handle.records] == multipliers_of(2, 4)
    assert wrapped.param_groups[0]["lr"] == LR
    for got, want in zip(dice_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_bad_arguments_are_refused_when_the_callback_is_built():
    with pytest.raises(ValueError, match="target"):
        RollToTrainCallback(target="weights")
    with pytest.raises(TypeError, match="character_class"):
        RollToTrainCallback(character_class="wizard")
    with pytest.raises(ValueError, match="on_nonfinite"):
        RollToTrainCallback(on_nonfinite="ignore")
    with pytest.raises(TypeError, match="capture_loss"):
        RollToTrainCallback(capture_loss="yes")


# --- RollToTrain with HuggingFace models and dict batches -------------------------------------

def test_roll_to_train_trains_a_hf_masked_lm_from_dict_batches():
    torch.manual_seed(1)
    base = BertForMaskedLM(tiny_config()).eval()
    g = torch.Generator().manual_seed(2)
    batches = []
    for _ in range(4):
        ids = torch.randint(1, VOCAB, (4, LENGTH), generator=g)
        labels = torch.where(torch.rand(ids.shape, generator=g) < 0.3, ids, torch.full_like(ids, -100))
        labels[:, 0] = ids[:, 0]                                        # at least one target per row
        batches.append({"input_ids": torch.where(labels >= 0, torch.full_like(ids, 3), ids),
                        "attention_mask": torch.ones_like(ids), "labels": labels})
    seed = 4
    model = copy.deepcopy(base)
    trainer = RollToTrain(model, torch.optim.AdamW(model.parameters(), lr=LR), rules=RULES, seed=seed,
                          progress=False, on_nonfinite="off")
    history = trainer.train(batches)

    reference = copy.deepcopy(base).train()
    optimizer = torch.optim.AdamW(reference.parameters(), lr=LR)
    want, losses = multipliers_of(seed, len(batches)), []
    for batch, m in zip(batches, want):
        loss = reference(**batch).loss
        loss.backward()
        optimizer.param_groups[0]["lr"] = LR * m
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    for got, ref in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)
    assert history.multipliers == want
    assert history.losses == pytest.approx(losses, rel=1e-5)


# --- without transformers ---------------------------------------------------------------------

def test_the_module_imports_without_transformers_and_the_callback_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)        # as if it were not installed
    spec = importlib.util.spec_from_file_location("rtt_edu.training._hf_without", hf.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.HF_AVAILABLE is False
    with pytest.raises(ImportError, match=r"pip install 'rtt_edu\[hf\]'"):
        module.RollToTrainCallback()
