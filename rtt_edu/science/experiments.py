"""Many seeds of dice against plain training, compared honestly, with confidence intervals.

    comparison = run_comparison("moons", seeds=10, steps=300)
    comparison.summary("loss")        # one row per arm: mean, and the paired difference to plain
    print(comparison.conclusion("loss"))
    comparison.to_csv("results.csv"); comparison.plot("loss")

**The design.** A seed fixes everything except the dice: the data, the initial weights and the
order of the batches are the same for every arm run with that seed, and the dice of that seed are
the same for every dice arm. Arms differ only in their rule and learning rate, so they are
compared *paired*, seed by seed:

    d_s = metric(arm, seed s) - metric(plain, seed s),      s = 1..n

**The statistics** (:mod:`rtt_edu.science.stats`): each difference's mean, its t interval
(``t_interval``) and percentile bootstrap interval (``bootstrap_interval``), the wins, and a
verdict in plain words (``interval_verdict``).

**The controls that matter.** A dice rule with mean multiplier E[m] is, on average, plain training
at learning rate E[m] · lr, plus noise. Comparing it with plain training at lr mixes the two
effects, so the default arms (``default_arms``) separate them:

    plain                   lr,          no dice       the baseline
    <rule>                  lr,          dice          what a user of the rule gets
    plain, lr x E[m]        E[m] · lr,   no dice       the rule's drift without its noise
    <rule>, lr / E[m]       lr / E[m],   dice          plain training's mean step plus the noise

Dice against an arm with the same mean step (``Arm.mean_lr_scale``) isolates the noise; the
conclusion reports those pairs as "the noise alone".

**Tasks** (``TASKS``; ``register_task`` adds one): ``moons`` (lesson 4's run: an MLP on the two
moons, full-batch SGD), ``xor`` (the four quadrants, full-batch Adam) and ``bert`` (the tiny BERT
on the fantasy grammar, AdamW, scored by its exact expected accuracy over the Bayes optimum).
Their learning rates were chosen for plain training, by the mean test metric over seeds 0-5 (4 for
bert) at the default steps, so plain is not handicapped:

    moons  SGD    lr 0.1, 0.3, 0.5, 1, 2          test loss 0.251, 0.122, 0.126, 0.134, 0.145   (0.5: lesson 4's)
    xor    Adam   lr 1e-3, 2e-3, 3e-3, 5e-3, 1e-2  test loss 0.258, 0.219, 0.228, 0.242, 0.270
    bert   AdamW  lr 2e-3, 4e-3, 6e-3, 1e-2, 1.5e-2  ratio 0.89, 0.95, 0.95, 0.90, 0.74
"""
from __future__ import annotations

import csv
import functools
import math
import statistics
import time
import warnings
from dataclasses import dataclass, field

from rtt_edu.errors import NegativeDriftWarning, RollToTrainTypeError, bad_value, check_type, require
from rtt_edu.science.stats import interval_verdict, paired_summary, t_interval

__all__ = ["Arm", "default_arms", "Task", "TASKS", "register_task", "toy_run", "moons_run", "xor_run", "bert_run",
           "Comparison", "run_comparison"]


# --- what is compared: arms and tasks ----------------------------------------------------------

@dataclass(frozen=True)
class Arm:
    """One way of training, run once per seed."""
    name: str                 # the label in tables and plots
    rules: object = "plain"   # a SavingThrow or a preset name; "plain" applies every update in full
    lr_scale: float = 1.0     # multiplies the task's learning rate (E[m] for plain at the dice's drift)
    target: str = "update"    # what the dice scale (lesson 8): "update", "gradient" or "delta"

    @classmethod
    def dice(cls, rules, target: str = "update") -> Arm:
        """Dice with ``rules`` at the task's learning rate, named after the rule."""
        from rtt_edu.game.rules import as_rules
        rule = as_rules(rules)
        return cls(rule.name or "dice", rule, 1.0, target)

    @classmethod
    def matched(cls, rules) -> Arm:
        """Plain training at lr × E[m] of ``rules``: the dice's drift without their noise."""
        from rtt_edu.game.rules import as_rules
        mean = as_rules(rules).expected_multiplier()
        require(mean > 0, "rules", rules, "a rule with E[m] > 0 (a matched learning rate must be > 0)")
        return cls(f"plain, lr x {mean:.3g}", "plain", mean)

    @classmethod
    def compensated(cls, rules, target: str = "update") -> Arm:
        """Dice with the learning rate divided by E[m]: plain training's mean step, plus the dice's noise."""
        from rtt_edu.game.rules import as_rules
        rule = as_rules(rules)
        mean = rule.expected_multiplier()
        require(mean > 0, "rules", rules, "a rule with E[m] > 0 (lr / E[m] must be > 0)")
        return cls(f"{rule.name or 'dice'}, lr / {mean:.3g}", rule, 1.0 / mean, target)

    @property
    def mean_lr_scale(self) -> float:
        """The arm's mean step as a multiple of the task's plain step: lr_scale · E[m] (targets update/delta)."""
        return self.lr_scale * _rule(self.rules).expected_multiplier()

    @property
    def is_plain(self) -> bool:
        """No noise: the rule's multiplier is the same on every roll (Var[m] = 0)."""
        return _rule(self.rules).variance() == 0


def default_arms(rules="classroom") -> tuple:
    """plain; the dice; plain at the dice's mean learning rate; the dice at plain's mean learning rate."""
    return (Arm("plain"), Arm.dice(rules), Arm.matched(rules), Arm.compensated(rules))


@dataclass(frozen=True)
class Task:
    """A training task: ``run(arm, seed, steps)`` trains one model and returns its metrics."""
    name: str                 # key in TASKS
    run: object               # callable (arm, seed, steps) -> {metric: float}
    metrics: dict             # metric -> "lower" or "higher" (which is better)
    primary: str              # the metric the conclusion is about
    steps: int                # the default budget of optimizer steps
    description: str = ""     # one line for tables and the lesson


TASKS: dict = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (a lesson or a user can register their own)."""
    require(isinstance(task, Task), "task", task, "a Task", RollToTrainTypeError)
    require(task.primary in task.metrics and all(b in ("lower", "higher") for b in task.metrics.values()),
            "task.metrics", task.metrics, f"metric -> 'lower'/'higher', including primary={task.primary!r}")
    TASKS[task.name] = task
    return task


def _trainer(model, optimizer, arm: Arm, seed: int, **kwargs):
    """A quiet ``RollToTrain`` for one arm (a comparison may include a rule that climbs on purpose)."""
    from rtt_edu.training.trainer import RollToTrain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        return RollToTrain(model, optimizer, rules=arm.rules, seed=seed, target=arm.target, progress=False, **kwargs)


def _attach(optimizer, arm: Arm, seed: int):
    """The dice of one arm on ``optimizer``, quietly (a comparison may include a rule that climbs on purpose)."""
    from rtt_edu.training.game import attach
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeDriftWarning)
        return attach(optimizer, arm.rules, seed=seed, target=arm.target)


@functools.lru_cache(maxsize=1)
def _grammar():
    from rtt_edu.data.grammar import FantasyGrammar
    return FantasyGrammar()


@functools.lru_cache(maxsize=2)
def _mlm_batches(seed: int, steps: int, batch_size: int) -> list:
    return _grammar().mlm_batches(steps * batch_size, batch_size, seed=10_000 + seed)


def bert_run(arm: Arm, seed: int, steps: int, batch_size: int = 128, lr: float = 4e-3, config: str = "tiny") -> dict:
    """The small BERT on the fantasy grammar: ``steps`` AdamW steps, then the exact expected accuracy.

    Seed s fixes the initial weights (``BertMLM(seed=s)``), the sentences and masks
    (``mlm_batches(seed=10000 + s)``) and the dice (``RollToTrain(seed=s)``).
    ``ratio`` = expected masked-token accuracy / the Bayes optimum (exact, no sampling).
    """
    import torch

    from rtt_edu.models.bert import BertConfig, BertMLM
    grammar = _grammar()
    model = BertMLM(getattr(BertConfig, config)(vocab_size=len(grammar.vocab), max_len=grammar.config.max_len),
                    seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr * arm.lr_scale)
    _trainer(model, optimizer, arm, seed).train(_mlm_batches(seed, steps, batch_size))
    result = grammar.contexts.evaluate(model)
    return {"ratio": result["ratio"], "accuracy": result["accuracy"], "loss": result["loss"]}


register_task(Task("bert", bert_run, {"ratio": "higher", "accuracy": "higher", "loss": "lower"}, "ratio", 150,
                   "tiny BERT (1 block, 2 heads, width 32), AdamW 4e-3, batches of 128 masked sentences; "
                   "ratio = exact expected accuracy / Bayes optimum"))


def toy_run(arm: Arm, seed: int, steps: int, dataset: str = "moons", optimizer: str = "sgd", lr: float = 0.5,
            noise: float = 0.2, points: int = 400, hidden=(16, 16), activation: str = "relu") -> dict:
    """A seeded MLP on a seeded toy dataset, trained by the toy loop as a ``TrainingPanel`` trains it (lesson 4).

    Seed s: the data ``make_dataset(dataset, points, noise, seed=s)`` (a quarter held out), the
    weights ``mlp(..., seed=s)`` and the dice ``attach(..., seed=s)``; every step is one full-batch
    step on the training points (:func:`rtt_edu.training.toy.train_full_batch`). ``optimizer``: a
    name in :data:`rtt_edu.training.optimizers.OPTIMIZERS`. Metrics: the test loss (cross-entropy on
    the held-out points), the test accuracy, and the final training loss.
    """
    import torch
    from torch import nn

    from rtt_edu.data.toy import make_dataset
    from rtt_edu.models.mlp import mlp
    from rtt_edu.training.optimizers import OPTIMIZERS
    from rtt_edu.training.toy import train_full_batch
    data = make_dataset(dataset, n=points, noise=noise, seed=seed)
    model = mlp(2, hidden, data.classes, activation, seed=seed)
    opt = OPTIMIZERS[optimizer].make(model.parameters(), lr * arm.lr_scale)
    handle = _attach(opt, arm, seed)
    try:
        train_full_batch(model, opt, data.X_train, data.y_train, steps, handle=handle)
    finally:
        handle.remove()
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        logits = model(data.X_test)
        return {"loss": float(loss_fn(logits, data.y_test)),
                "accuracy": float((logits.argmax(1) == data.y_test).double().mean()),
                "train_loss": float(loss_fn(model(data.X_train), data.y_train))}


def moons_run(arm: Arm, seed: int, steps: int, **kwargs) -> dict:
    """Lesson 4's run: two moons (noise 0.2, 400 points), MLP 2-16-16-2 ReLU, full-batch SGD at lr 0.5."""
    return toy_run(arm, seed, steps, **{"dataset": "moons", "optimizer": "sgd", "lr": 0.5, "noise": 0.2, **kwargs})


def xor_run(arm: Arm, seed: int, steps: int, **kwargs) -> dict:
    """Four quadrants (xor, noise 0.1, 400 points), MLP 2-16-16-2 ReLU, full-batch Adam at lr 0.002."""
    return toy_run(arm, seed, steps, **{"dataset": "xor", "optimizer": "adam", "lr": 0.002, "noise": 0.1, **kwargs})


_TOY_METRICS = {"loss": "lower", "accuracy": "higher", "train_loss": "lower"}
register_task(Task("moons", moons_run, _TOY_METRICS, "loss", 300,
                   "lesson 4's moons: MLP 2-16-16-2, full-batch SGD lr 0.5, 300 training and 100 test points"))
register_task(Task("xor", xor_run, _TOY_METRICS, "loss", 300,
                   "xor quadrants: MLP 2-16-16-2, full-batch Adam lr 0.002, 300 training and 100 test points"))


# --- running a comparison ------------------------------------------------------------------------

def _seeds(seeds) -> list:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        require(seeds >= 2, "seeds", seeds, "at least 2 seeds (an interval needs two values)")
        return list(range(seeds))
    try:
        out = [int(s) for s in seeds]
    except TypeError:
        raise RollToTrainTypeError(bad_value("seeds", seeds, "an int (that many seeds from 0) or a list of ints")) \
            from None
    require(len(out) >= 2 and len(set(out)) == len(out), "seeds", seeds, "at least 2 distinct seeds")
    return out


def run_comparison(task="moons", seeds=10, steps: int | None = None, arms=None, progress: bool = False,
                   **task_kwargs) -> Comparison:
    """Run every arm once per seed on ``task`` (a name in :data:`TASKS` or a :class:`Task`)."""
    if isinstance(task, str):
        require(task in TASKS, "task", task, f"one of {sorted(TASKS)} or a Task")
        task = TASKS[task]
    require(isinstance(task, Task), "task", task, f"one of {sorted(TASKS)} or a Task", RollToTrainTypeError)
    seeds = _seeds(seeds)
    steps = task.steps if steps is None else steps
    check_type("steps", steps, int, "an integer >= 1")
    require(steps >= 1, "steps", steps, "an integer >= 1")
    arms = tuple(default_arms() if arms is None else arms)
    require(arms and all(isinstance(a, Arm) for a in arms), "arms", arms, "a sequence of Arm", RollToTrainTypeError)
    require(len({a.name for a in arms}) == len(arms), "arms", [a.name for a in arms], "arms with distinct names")
    from tqdm.auto import tqdm
    rows = []
    jobs = [(seed, arm) for seed in seeds for arm in arms]
    for seed, arm in tqdm(jobs, desc=task.name, disable=not progress, leave=False):
        started = time.perf_counter()
        metrics = task.run(arm, seed, steps, **task_kwargs)
        rows.append({"task": task.name, "arm": arm.name, "seed": seed, "steps": steps,
                     **{k: float(v) for k, v in metrics.items()}, "seconds": time.perf_counter() - started})
    return Comparison(task, arms, seeds, steps, rows)


@dataclass
class Comparison:
    """The rows of a comparison (one per arm and seed) and the statistics read from them."""
    task: Task
    arms: tuple
    seeds: list
    steps: int
    rows: list = field(default_factory=list)

    @property
    def arm_names(self) -> list:
        return [a.name for a in self.arms]

    def values(self, arm: str, metric: str | None = None) -> list:
        """One value per seed, in seed order."""
        metric = self._metric(metric)
        require(arm in self.arm_names, "arm", arm, f"one of {self.arm_names}")
        by_seed = {r["seed"]: r[metric] for r in self.rows if r["arm"] == arm}
        return [by_seed[s] for s in self.seeds]

    def _metric(self, metric):
        metric = self.task.primary if metric is None else metric
        require(metric in self.task.metrics, "metric", metric, f"one of {sorted(self.task.metrics)}")
        return metric

    def contrast(self, arm: str, against: str = "plain", metric: str | None = None, confidence: float = 0.95) -> dict:
        """Paired differences arm - against over the seeds where both runs finished (finite metric)."""
        metric = self._metric(metric)
        pairs = [(a, b) for a, b in zip(self.values(arm, metric), self.values(against, metric))
                 if math.isfinite(a) and math.isfinite(b)]
        summary = paired_summary([a for a, _ in pairs], [b for _, b in pairs], self.task.metrics[metric],
                                 confidence, seed=0)
        summary.update(arm=arm, against=against, metric=metric, diverged=len(self.seeds) - len(pairs))
        return summary

    def summary(self, metric: str | None = None, baseline: str | None = None, confidence: float = 0.95) -> list:
        """One dict per arm: mean and t interval of the metric, and its paired contrast with ``baseline``."""
        metric = self._metric(metric)
        baseline = self.arm_names[0] if baseline is None else baseline
        out = []
        for arm in self.arm_names:
            values = [v for v in self.values(arm, metric) if math.isfinite(v)]
            row = {"task": self.task.name, "arm": arm, "metric": metric, "n": len(values),
                   "diverged": len(self.seeds) - len(values)}
            if len(values) >= 2:
                interval = t_interval(values, confidence)
                row.update(mean=interval.estimate, sd=statistics.stdev(values), lo=interval.lo, hi=interval.hi)
            if arm != baseline:
                c = self.contrast(arm, baseline, metric, confidence)
                words = interval_verdict(c["t"], self.task.metrics[metric], f"{arm} - {baseline}")
                row.update(diff=c["mean_diff"], diff_lo=c["t"].lo, diff_hi=c["t"].hi, boot_lo=c["bootstrap"].lo,
                           boot_hi=c["bootstrap"].hi, wins=c["wins"], verdict=words)
            out.append(row)
        return out

    def conclusion(self, metric: str | None = None, confidence: float = 0.95) -> str:
        """Plain words: each dice arm against plain, and against plain at its own mean learning rate."""
        metric = self._metric(metric)
        better = self.task.metrics[metric]
        base = self.arm_names[0]
        lines = [f"{self.task.name}: {metric} ({better} is better), {len(self.seeds)} seeds, {self.steps} steps, "
                 f"{confidence:.0%} t intervals of paired differences"]
        base_arm = self.arms[0]
        for arm in self.arms[1:]:
            c = self.contrast(arm.name, base, metric, confidence)
            alone = (not arm.is_plain and base_arm.is_plain and abs(arm.mean_lr_scale - base_arm.mean_lr_scale) < 1e-9)
            lines.append(f"- {arm.name} vs {base}{' (the noise alone: the same mean step)' if alone else ''}: "
                         f"{interval_verdict(c['t'], better)}; better in {c['wins']} of {c['n']} seeds")
            if c["diverged"]:
                lines.append(f"  ({c['diverged']} seed(s) left out: a run did not finish with a finite {metric})")
        for d in (a for a in self.arms if not a.is_plain):      # the noise alone: same mean step, no dice
            for p in (a for a in self.arms[1:] if a.is_plain):
                if abs(d.mean_lr_scale - p.mean_lr_scale) < 1e-9:
                    c = self.contrast(d.name, p.name, metric, confidence)
                    lines.append(f"- the noise alone ({d.name} vs {p.name}, the same mean step): "
                                 f"{interval_verdict(c['t'], better)}; better in {c['wins']} of {c['n']} seeds")
        return "\n".join(lines)

    # --- output ---------------------------------------------------------------------------
    def to_csv(self, path) -> None:
        """Every run: task, arm, seed, steps, the metrics, seconds."""
        fields = list(self.rows[0]) if self.rows else ["task", "arm", "seed", "steps"]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)

    def to_markdown(self, metric: str | None = None, confidence: float = 0.95) -> str:
        """The summary as a Markdown table."""
        rows = self.summary(metric, confidence=confidence)
        head = (f"| arm | mean {rows[0]['metric']} [{confidence:.0%} CI] | difference to {rows[0]['arm']} "
                f"[t CI] | bootstrap CI | wins |")
        lines = [head, "|---|---|---|---|---|"]
        for r in rows:
            mean = f"{r['mean']:.4f} [{r['lo']:.4f}, {r['hi']:.4f}]" if "mean" in r else "n/a"
            if "diff" in r:
                lines.append(f"| {r['arm']} | {mean} | {r['diff']:+.4f} [{r['diff_lo']:+.4f}, {r['diff_hi']:+.4f}] | "
                             f"[{r['boot_lo']:+.4f}, {r['boot_hi']:+.4f}] | {r['wins']}/{r['n']} |")
            else:
                lines.append(f"| {r['arm']} | {mean} | (baseline) | | |")
        return "\n".join(lines)

    def plot(self, metric: str | None = None, ax=None):
        """Each seed's value per arm (thin lines join a seed's runs) and each arm's mean with its t interval."""
        import matplotlib.pyplot as plt
        metric = self._metric(metric)
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        names = self.arm_names
        for seed in self.seeds:
            ax.plot(range(len(names)), [self.values(a, metric)[self.seeds.index(seed)] for a in names],
                    color="0.7", lw=0.8, marker=".", zorder=1)
        for i, row in enumerate(self.summary(metric)):
            if "mean" in row:
                ax.errorbar([i], [row["mean"]], yerr=[[row["mean"] - row["lo"]], [row["hi"] - row["mean"]]],
                            fmt="o", color="tab:purple", capsize=5, zorder=2)
        ax.set_xticks(range(len(names)), names, rotation=15)
        ax.set_ylabel(metric)
        ax.set_title(f"{self.task.name}: {len(self.seeds)} seeds, {self.steps} steps")
        return ax


def _rule(rules):
    from rtt_edu.game.rules import as_rules
    return as_rules(rules)
