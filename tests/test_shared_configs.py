"""Configs a teacher opens from students: each is built or refused at once, with a short message.

Every hostile value here is refused before any work starts, naming the key and quoting at most a short
prefix of the value. What is accepted at the edge of a bound (the largest die) and the whole set of
hostile configs run in a fresh interpreter under a generous timeout, and every test here under a
pytest-timeout guard, so a regression fails instead of hanging the suite. No test times anything.
"""
import asyncio
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rtt_edu import SavingThrow
from rtt_edu.errors import MAX_SHOWN, NonFiniteTrainingError, PanelClosedError, RollToTrainError, bad_value, shown
from rtt_edu.game.dice import MAX_SIDES, MAX_WORK, distribution_cost, natural_distribution, total_distribution
from rtt_edu.game.rules import MAX_MULTIPLIER
from rtt_edu.views.widgets import ComparePanel, DicePanel, TrainingConfig, TrainingPanel
from rtt_edu.views.widgets.run import MAX_REPLAY_WORK, max_replay_steps, step_work

#: each test finishes in seconds; a regression that hangs (a replay of 15 minutes) fails at this guard instead
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[1]
LARGEST_NETWORK = {"hidden": 256, "layers": 6, "points": 20000}
#: a message quotes at most this much: the sentence around a short prefix of the value
MESSAGE_LIMIT = 2 * MAX_SHOWN + 400


def finishes(code: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter: it must exit 0 within ``timeout`` seconds (a guard, not a timing)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def largest_exact_die() -> int:
    """The most sides whose exact distribution ``total_distribution`` accepts (``distribution_cost <= MAX_WORK``)."""
    lo, hi = 2, MAX_SIDES
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if distribution_cost(f"d{mid}") <= MAX_WORK else (lo, mid - 1)
    return lo


def refused(call) -> str:
    """The message of the ``RollToTrainError`` (or ``TypeError``) ``call()`` raises; it must be short."""
    with pytest.raises((RollToTrainError, TypeError)) as err:
        call()
    message = str(err.value)
    assert len(message) <= MESSAGE_LIMIT, f"{len(message)} characters: {message[:300]}"
    return message


# --- a die too large for exact maths ----------------------------------------------------------------

def test_one_bound_refuses_a_die_too_costly_for_exact_maths_everywhere():
    s = largest_exact_die()
    assert 1000 < s < MAX_SIDES
    assert SavingThrow(sides=s).sides == s
    assert total_distribution(f"d{s}")[1] == pytest.approx(1 / s)
    for call in (lambda: SavingThrow(sides=s + 1), lambda: SavingThrow.from_dict({"sides": 1_000_000}),
                 lambda: SavingThrow.preset("classroom", sides=1_000_000),
                 lambda: TrainingConfig.from_dict({"rules": {"sides": 1_000_000}}),
                 lambda: TrainingPanel.from_config({"rules": {"sides": 1_000_000}}, figures="static"),
                 lambda: ComparePanel.from_config({"rules": {"sides": 1_000_000}}, figures="static"),
                 lambda: natural_distribution(1_000_000)):
        message = refused(call)
        assert "sides=1000000" in message or f"sides={s + 1}" in message, message
        assert f"{MAX_WORK:,} units of work" in message, message
    assert f"{MAX_WORK:,} units of work" in refused(lambda: total_distribution(f"d{s + 1}"))


def test_the_largest_exact_die_is_answered_everywhere_within_seconds():
    s = largest_exact_die()
    out = finishes(f"""
        import time
        from rtt_edu import SavingThrow
        from rtt_edu.views.widgets import ComparePanel, DicePanel, TrainingConfig, TrainingPanel
        rules = {{"sides": {s}, "dc": 11, "success": {{"margin": {{"scale": 0.01, "offset": 0.5}}}}, "fail": 0.25}}
        start = time.perf_counter()
        rule = SavingThrow.from_dict(rules)
        s = rule.summary()
        assert abs(sum(rule.distribution().values()) - 1) < 1e-9 and s["mean"] > 0
        TrainingConfig.from_dict({{"rules": rules}})
        panel = TrainingPanel.from_config({{"rules": rules, "steps": 5, "horizon": 10}}, figures="static")
        assert panel.steps == 5 and panel.controls["die"].value == {s}
        panel.controls["dc"].value = 40                      # a dice change re-trains the dice run to the horizon
        assert panel.steps == 10 and panel.config()["rules"]["dc"] == 40
        ComparePanel.from_config({{"rules": rules, "seeds": 2, "steps": 10}}, figures="static").run()
        DicePanel(rules=SavingThrow.from_dict({{**rules, "success": 0.75, "advantage": True}}), figures="static")
        print(f"{{time.perf_counter() - start:.2f}}")
    """)
    assert float(out.split()[-1]) >= 0


# --- replayed steps -----------------------------------------------------------------------------------

def test_a_replay_too_long_to_finish_is_refused_naming_steps_and_its_maximum():
    default = TrainingConfig()
    limit = max_replay_steps(default)
    assert limit == MAX_REPLAY_WORK // step_work(default) and 10_000 < limit < 1_000_000
    message = refused(lambda: TrainingPanel.from_config({"steps": 1_000_000}, figures="static"))
    assert "steps=1000000" in message and f"at most {limit:,} steps" in message, message
    big = TrainingConfig(**LARGEST_NETWORK)
    big_limit = max_replay_steps(big)
    assert 1 <= big_limit < 100
    message = refused(lambda: TrainingPanel.from_config({**LARGEST_NETWORK, "steps": big_limit + 1}, figures="static"))
    assert f"steps={big_limit + 1}" in message and f"at most {big_limit:,} steps" in message, message
    assert step_work(big) > 1000 * step_work(default)


def test_a_long_replay_runs_on_the_event_loop_and_ends_where_the_direct_replay_does(monkeypatch):
    cfg = {"seed": 3, "steps": 30, "experience": False}
    direct = TrainingPanel.from_config(cfg, figures="static")       # no event loop: replayed before it returns
    assert direct.steps == 30 and not direct.running
    monkeypatch.setattr(TrainingPanel, "replay_now_work", step_work(TrainingConfig(seed=3)) * 4)

    async def scenario():
        panel = TrainingPanel.from_config(cfg, figures="static")
        assert panel.steps < 30 and panel.running               # returned at once: the kernel stays free
        assert "replaying" in panel.status.value and "30" in panel.status.value
        while panel.running:
            await asyncio.sleep(0)
        return panel

    panel = asyncio.run(scenario())
    assert panel.steps == 30 and panel.history.losses == direct.history.losses
    assert panel.plain_losses == direct.plain_losses and "replaying" not in panel.status.value
    assert panel.config() == direct.config()


def test_pause_stops_a_replay_where_it_is(monkeypatch):
    monkeypatch.setattr(TrainingPanel, "replay_now_work", 1)

    async def scenario():
        panel = TrainingPanel.from_config({"steps": 200}, figures="static")
        await asyncio.sleep(0)
        panel.controls["pause"].click()
        stopped = panel.steps
        for _ in range(3):
            await asyncio.sleep(0)
        return panel, stopped

    panel, stopped = asyncio.run(scenario())
    assert 0 < stopped < 200 and panel.steps == stopped and not panel.running
    assert panel.config()["steps"] == stopped


# --- absurd multipliers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rules,needle", [
    ({"success": {"margin": {"scale": 1e300}}}, "success.scale=1e+300"),
    ({"crit_success": 1e308}, "crit_success=1e+308"),
    ({"dc": -1000, "success": 1e307, "crit_success": 1e307}, "=1e+307"),
    ({"fail": -1001}, "fail=-1001"),
    ({"crit_fail": {"margin": {"offset": 2000.0}}}, "crit_fail.offset=2000.0"),
    ({"success": {"margin": {"scale": 0.01, "hi": 1e9}}}, "success.hi=1000000000.0"),
    ({"success": {"margin": {"scale": 0.01, "size": 2}}}, "success.margin=['size']"),
    ({"success": {"margin": [1, 2]}}, "success.margin=[1, 2]"),
])
def test_a_multiplier_beyond_the_bound_is_refused_at_the_entrance(rules, needle):
    for call in (lambda: TrainingConfig.from_dict({"rules": rules}),
                 lambda: TrainingPanel.from_config({"rules": rules, "steps": 5}, figures="static"),
                 lambda: SavingThrow.from_dict(rules)):
        message = refused(call)
        assert needle in message, message
        if "1e+30" in needle:
            assert f"from -{MAX_MULTIPLIER:g} to {MAX_MULTIPLIER:g}" in message, message


def test_the_largest_multipliers_allowed_give_finite_figures_and_a_divergence_in_words():
    extreme = {"dc": -1000, "sides": largest_exact_die(), "crit_success": MAX_MULTIPLIER,
               "success": {"margin": {"scale": MAX_MULTIPLIER, "offset": MAX_MULTIPLIER}},
               "fail": -MAX_MULTIPLIER, "crit_fail": -MAX_MULTIPLIER}
    s = SavingThrow.from_dict(extreme).summary()
    assert all(math.isfinite(v) for v in s.values()), s
    panel = TrainingPanel.from_config({"rules": extreme, "lr": 100, "steps": 20}, figures="static")
    assert panel.steps == 20 and panel.run.diverged["dice"] is not None
    assert "dice diverged at step" in panel.status.value and panel.error_text == ""
    ax = panel.figure.axes[0]
    assert all(math.isfinite(v) for v in (*ax.get_ylim(), *ax.get_xlim()))
    dice = DicePanel(rules=SavingThrow(crit_success=MAX_MULTIPLIER, fail=-MAX_MULTIPLIER), figures="static")
    assert dice.error_text == "" and all(math.isfinite(v) for v in dice.figure.axes[0].get_xlim())


def test_a_run_whose_dice_cannot_recover_stops_with_words_not_an_exception():
    panel = TrainingPanel(figures="static", experience=False)
    optimizer, calls = panel.run.dice_optimizer, []

    def out_of_death_saves():
        calls.append(1)
        if len(calls) == 3:
            raise NonFiniteTrainingError("step 2: training cannot recover from NaN/inf")
        return type(optimizer).step(optimizer)
    optimizer.step = out_of_death_saves
    panel.step(10)                                  # no exception out of the panel: the status line says it
    assert panel.run.diverged["dice"] == (2, "unrecoverable") and panel.run.diverged["plain"] is None
    assert panel.steps == 10 and len(panel.plain_losses) == 10 and panel.error_text == ""
    assert "dice diverged at step 2" in panel.status.value and "death saves could not bring them back" in \
        panel.status.value


# --- long and deep values -----------------------------------------------------------------------------

def test_shown_quotes_a_short_prefix_and_says_how_long_the_value_was():
    text = shown("x" * 10_000_000)
    assert text.startswith("'xxxx") and len(text) <= MAX_SHOWN + 40 and "10,000,000 characters" in text
    assert shown([1] * 1_000_000).startswith("[1, 1, 1") and "1,000,000 items" in shown([1] * 1_000_000)
    assert shown({"dc": "x"}) == "{'dc': 'x'}" and shown(1.5) == "1.5" and shown(None) == "None"
    message = bad_value("dataset", "x" * 10_000_000, "a dataset name")
    assert message.startswith("dataset='xxx") and message.endswith(": expected a dataset name")
    assert len(message) <= MESSAGE_LIMIT


def deep(levels: int) -> dict:
    root = node = {}
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.mark.parametrize("data,needle", [
    ({"dataset": "x" * 10_000_000}, "dataset='xxxxxxxx"),
    ({"rules": "x" * 10_000_000}, "rules='xxxxxxx"),
    ({"rules": {"name": 5, "dc": "x" * 10_000_000}}, "rules={"),
    ({"monsters": ["x" * 10_000_000]}, "monsters=['xxxx"),
    ({"monsters": ["dragon"] * 1_000_000}, "monsters"),
    ({"rules": deep(100_000)}, "rules"),
    ({"monsters": deep(100_000)}, "monsters"),
    ({"rules": {"success": {"margin": deep(100_000)}}}, "rules"),
    ({"x" * 10_000_000: 1}, "config key='xxxx"),
])
def test_long_and_deep_values_are_refused_with_a_short_message(data, needle):
    for call in (lambda: TrainingConfig.from_dict(data), lambda: TrainingPanel.from_config(data, figures="static")):
        message = refused(call)
        assert needle in message, message[:300]


def test_a_deep_value_is_refused_for_its_depth():
    message = refused(lambda: TrainingConfig.from_dict({"rules": deep(100_000)}))
    assert "deeper than" in message, message
    message = refused(lambda: TrainingPanel.from_config(deep(100_000), figures="static"))
    assert "config key='a'" in message, message


def test_the_hostile_configs_are_refused_in_a_fresh_interpreter_without_hanging():
    finishes("""
        from rtt_edu.views.widgets import ComparePanel, TrainingConfig, TrainingPanel
        deep = node = {}
        for _ in range(100_000):
            node["a"] = node = {}
        hostile = [{"rules": {"sides": 1_000_000}}, {"steps": 1_000_000},
                   {"rules": {"success": {"margin": {"scale": 1e300}}}}, {"rules": {"crit_success": 1e308}},
                   {"rules": {"dc": -1000, "success": 1e307}, "steps": 5},
                   {"dataset": "x" * 10_000_000}, {"rules": deep}]
        for cfg in hostile:
            for build in (TrainingPanel.from_config, ComparePanel.from_config):
                if build == ComparePanel.from_config and list(cfg) == ["steps"]:
                    continue                # a ComparePanel trains only when asked, in slices on the event loop
                try:
                    build(cfg, figures="static")
                except ValueError as exc:
                    assert len(str(exc)) < 1000, str(exc)[:300]
                else:
                    raise AssertionError(f"accepted: {str(cfg)[:100]}")
    """, timeout=60)


# --- panels: the controls show the run ----------------------------------------------------------------

def test_a_refused_value_puts_the_control_back_to_the_value_in_use():
    panel = TrainingPanel(figures="static", experience=False)
    panel.controls["seed"].value = -1                         # refused
    assert "seed=-1" in panel.error_text
    assert panel.controls["seed"].value == 0 == panel.config()["seed"]
    panel.controls["dataset"].value = "xor"                   # accepted: seed is back to 0
    assert panel.error_text == "" and panel.config()["dataset"] == "xor" and panel.run.data.name == "xor"
    panel.controls["dc"].value = 12
    cfg = panel.config()
    assert cfg["rules"]["dc"] == 12 and cfg["dataset"] == "xor" and cfg["seed"] == 0
    assert panel.controls["dataset"].value == "xor" and panel.controls["seed"].value == 0
    assert panel.run.config.dataset == "xor" and panel.run.config.seed == 0


def test_every_control_shows_the_config_after_a_refusal():
    panel = TrainingPanel(figures="static", experience=False, seed=4, dataset="circles")
    panel.controls["seed"].value = -7
    assert "seed=-7" in panel.error_text
    cfg = panel.config()
    for name in ("dataset", "noise", "hidden", "layers", "activation", "optimizer", "lr", "seed", "horizon"):
        assert panel.controls[name].value == cfg[name], name
    assert panel.controls["intelligence"].value == cfg["intelligence"]
    assert panel.dice.config_rules() == cfg["rules"]
    panel.step(2)
    assert panel.steps == 2 and panel.run.data.name == "circles"


def test_a_refused_dice_value_puts_the_dice_controls_back(monkeypatch):
    panel = TrainingPanel(figures="static", experience=False)
    before = panel.config()

    def refuse(*args, **kwargs):
        raise RollToTrainError("rules=...: refused for the test")
    monkeypatch.setattr(panel.dice, "config_rules", refuse)
    panel.controls["dc"].value = 17
    assert "refused for the test" in panel.error_text
    monkeypatch.undo()
    assert panel.controls["dc"].value == 11 and panel.controls["rules"].value == "classroom"
    assert panel.config() == before


def test_a_refused_value_in_the_compare_panel_puts_its_controls_back(monkeypatch):
    panel = ComparePanel(figures="static", seeds=2, steps=10, rules="seed-code")
    before = panel.config()

    def refuse(*args, **kwargs):
        raise RollToTrainError("rules=...: refused for the test")
    monkeypatch.setattr(panel.dice, "config_rules", refuse)
    panel.controls["seeds"].value = 3
    assert "refused for the test" in panel.error_text
    monkeypatch.undo()
    assert panel.controls["seeds"].value == 2 and panel.controls["rules"].value == "seed-code"
    assert panel.config() == before and panel.batch is None          # nothing trained


def test_step_after_close_is_refused_and_trains_nothing():
    panel = TrainingPanel(figures="static")
    panel.step(20)
    weights = [p.detach().clone() for p in panel.run.dice_model.parameters()]
    panel.close()
    for call in (lambda: panel.step(3), panel.reset, panel.play, lambda: panel.run.step(3)):
        with pytest.raises(PanelClosedError, match="closed"):
            call()
    assert issubclass(PanelClosedError, RollToTrainError)
    assert panel.steps == 20 and len(panel.history) == 20 and len(panel.plain_losses) == 20
    assert all((p == w).all() for p, w in zip(panel.run.dice_model.parameters(), weights))
    compare = ComparePanel(figures="static", seeds=2, steps=10)
    compare.close()
    with pytest.raises(PanelClosedError, match="closed"):
        compare.run()
