"""A catalogue of bad inputs across the public API.

Each row is refused with ``ValueError`` / ``TypeError`` (the library's errors are both kinds),
its message names the argument and quotes the bad value (a short prefix of it: a message stays under
1,000 characters, whatever the value), it is raised before any training
starts (the model's weights are unchanged), and it is raised by rtt_edu, not deep inside torch.
"""
import json
import os
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import rtt_edu
from rtt_edu import (
    DiceRoller,
    ExperienceSystem,
    History,
    Margin,
    RollToTrain,
    SavingThrow,
    ability_modifier,
    attach,
    level_for_xp,
    proficiency_bonus,
)
from rtt_edu.engine.safety import DeathSaves
from rtt_edu.party.classes import Barbarian, Bard, Cleric, Fighter, Paladin, Rogue, Wizard
from rtt_edu.party.monsters import EncounterTable, GradientOoze, LossDragon, Monster, WeightWraith
from rtt_edu.training.history_file import history_from_dict, history_from_json, load_history, save_history
from rtt_edu.views.widgets import ComparePanel, TrainingPanel

TORCH_DIR = os.path.dirname(torch.__file__)


class Ctx:
    """A fresh model, optimizer, trainer, data and a temporary folder for one row."""

    def __init__(self, tmp_path):
        torch.manual_seed(0)
        self.tmp = tmp_path
        self.model = torch.nn.Linear(3, 1)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 3, generator=g)
        self.data = TensorDataset(x, x.sum(1, keepdim=True))
        self.loader = DataLoader(self.data, batch_size=4)
        self.weights = [p.detach().clone() for p in self.model.parameters()]

    def trainer(self, **kwargs):
        kwargs = {"loss_fn": torch.nn.MSELoss(), "progress": False, "seed": 0, **kwargs}
        return RollToTrain(self.model, self.opt, **kwargs)

    def file(self, name, content):
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return str(path)

    def history_json(self, **step_changes):
        step = {"step": 0, "epoch": 0, "natural": 12, "total": 14, "multiplier": 0.75, "outcome": "success"}
        step.update(step_changes)
        return json.dumps({"format": "rtt_edu.history/1", "meta": {}, "steps": [step], "evals": []})

    def checkpoint(self):
        path = str(self.tmp / "good.pt")
        other = torch.nn.Linear(3, 1)
        RollToTrain(other, torch.optim.SGD(other.parameters(), lr=0.1), progress=False).save_checkpoint(path)
        return path


def without_loss(**batch):
    return SimpleNamespace(logits=batch["x"])


class HFStyle(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, labels=None):
        return SimpleNamespace(logits=self.model(x))    # forgot to compute .loss


def path_of(ctx, name):
    return str(ctx.tmp / name)


# (id, the call, text that must appear in the message: the argument and its bad value)
CATALOGUE = [
    # --- dice notation and DiceRoller.roll ---------------------------------------------------------
    ("zero-sided die", lambda c: DiceRoller(0).roll("2d0"), ["notation='2d0'"]),
    ("one-sided die", lambda c: DiceRoller(0).roll("d1"), ["notation='d1'"]),
    ("no dice", lambda c: DiceRoller(0).roll("0d6"), ["notation='0d6'"]),
    ("not notation", lambda c: DiceRoller(0).roll("fireball"), ["notation='fireball'"]),
    ("empty notation", lambda c: DiceRoller(0).roll(""), ["notation=''"]),
    ("dangling plus", lambda c: DiceRoller(0).roll("d20+"), ["notation='d20+'"]),
    ("keep more than rolled", lambda c: DiceRoller(0).roll("4d6kh5"), ["notation='4d6kh5'"]),
    ("too many dice", lambda c: DiceRoller(0).roll("1001d6"), ["notation='1001d6'"]),
    ("too many sides", lambda c: DiceRoller(0).roll("d99999999"), ["notation='d99999999'"]),
    ("5000-digit die", lambda c: DiceRoller(0).roll("d" + "9" * 5000), ["notation='d9999"]),
    ("notation an int", lambda c: DiceRoller(0).roll(20), ["notation=20"]),
    ("notation None", lambda c: DiceRoller(0).roll(None), ["notation=None"]),
    ("advantage and disadvantage", lambda c: DiceRoller(0).roll("d20", advantage=True, disadvantage=True),
     ["advantage=True", "disadvantage=True"]),
    ("advantage a string", lambda c: DiceRoller(0).roll("d20", advantage="yes"), ["advantage='yes'"]),
    ("fractional modifier", lambda c: DiceRoller(0).roll("d20", modifier=1.5), ["modifier=1.5"]),
    ("advantage on two dice", lambda c: DiceRoller(0).roll("2d20", advantage=True), ["notation='2d20'"]),
    ("seed a string", lambda c: DiceRoller(seed="x"), ["seed='x'"]),
    ("seed a float", lambda c: DiceRoller(seed=1.5), ["seed=1.5"]),
    ("roller state garbage", lambda c: DiceRoller(0).load_state_dict({"x": 1}), ["state=['x']"]),
    # --- ability scores ------------------------------------------------------------------------------
    ("score 0", lambda c: ability_modifier(0), ["score=0"]),
    ("score 31", lambda c: ability_modifier(31), ["score=31"]),
    ("score a float", lambda c: ability_modifier(10.0), ["score=10.0"]),
    ("score a bool", lambda c: ability_modifier(True), ["score=True"]),
    # --- SavingThrow arguments and bands -------------------------------------------------------------
    ("dc a string", lambda c: SavingThrow(dc="15"), ["dc='15'"]),
    ("dc a float", lambda c: SavingThrow(dc=15.5), ["dc=15.5"]),
    ("dc huge", lambda c: SavingThrow(dc=10 ** 6), ["dc=1000000"]),
    ("rule sides 1", lambda c: SavingThrow(sides=1), ["sides=1"]),
    ("rule sides a bool", lambda c: SavingThrow(sides=True), ["sides=True"]),
    ("rule modifier huge", lambda c: SavingThrow(modifier=-5000), ["modifier=-5000"]),
    ("rule advantage and disadvantage", lambda c: SavingThrow(advantage=True, disadvantage=True),
     ["advantage=True", "disadvantage=True"]),
    ("rule advantage an int", lambda c: SavingThrow(advantage=1), ["advantage=1"]),
    ("band NaN", lambda c: SavingThrow(crit_success=float("nan")), ["crit_success=nan"]),
    ("band inf", lambda c: SavingThrow(fail=float("inf")), ["fail=inf"]),
    ("band a string", lambda c: SavingThrow(success="big"), ["success='big'"]),
    ("band a bool", lambda c: SavingThrow(crit_fail=False), ["crit_fail=False"]),
    ("margin scale NaN", lambda c: SavingThrow(success=Margin(scale=float("nan"))), ["scale=nan"]),
    ("margin scale a string", lambda c: Margin(scale="x"), ["scale='x'"]),
    ("margin lo above hi", lambda c: Margin(lo=1.0, hi=0.0), ["lo=1.0", "hi=0.0"]),
    ("rule name an int", lambda c: SavingThrow(name=42), ["name=42"]),
    ("natural 0", lambda c: SavingThrow().multiplier(0), ["natural=0"]),
    ("natural above the die", lambda c: SavingThrow().multiplier(21), ["natural=21"]),
    ("bonus a float", lambda c: SavingThrow().with_bonus(1.5), ["bonus=1.5"]),
    # --- presets and rule dicts -------------------------------------------------------------------
    ("unknown preset", lambda c: SavingThrow.preset("nope"), ["name='nope'"]),
    ("preset a list", lambda c: SavingThrow.preset(["classroom"]), ["name=['classroom']"]),
    ("preset override unknown", lambda c: SavingThrow.preset("classroom", bogus=1), ["bogus=1"]),
    ("preset override bad dc", lambda c: SavingThrow.preset("classroom", dc="x"), ["dc='x'"]),
    ("rule dict unknown key", lambda c: SavingThrow.from_dict({"dc": 15, "wat": 1}), ["data=['wat']"]),
    ("rule dict a string", lambda c: SavingThrow.from_dict("dc=15"), ["data='dc=15'"]),
    # --- attach ------------------------------------------------------------------------------------
    ("attach to a string", lambda c: attach("adam"), ["optimizer='adam'"]),
    ("attach unknown rules", lambda c: attach(c.opt, rules="nope"), ["rules='nope'"]),
    ("attach rules an int", lambda c: attach(c.opt, rules=42), ["rules=42"]),
    ("attach unknown target", lambda c: attach(c.opt, target="weights"), ["target='weights'"]),
    ("attach seed a float", lambda c: attach(c.opt, seed=1.5), ["seed=1.5"]),
    ("attach roller a string", lambda c: attach(c.opt, roller="x"), ["roller='x'"]),
    ("attach roller and seed", lambda c: attach(c.opt, roller=DiceRoller(1), seed=1), ["roller=", "seed=1"]),
    ("attach intelligence 0", lambda c: attach(c.opt, intelligence=0), ["intelligence=0"]),
    ("attach intelligence a string", lambda c: attach(c.opt, intelligence="15"), ["intelligence='15'"]),
    ("attach unknown policy", lambda c: attach(c.opt, on_nonfinite="ignore"), ["on_nonfinite='ignore'"]),
    ("attach policy a list", lambda c: attach(c.opt, on_nonfinite=["raise"]), ["on_nonfinite=['raise']"]),
    ("attach class a string", lambda c: attach(c.opt, character_class="wizard"), ["character_class='wizard'"]),
    ("attach experience a string", lambda c: attach(c.opt, experience="yes"), ["experience='yes'"]),
    ("death saves lr_factor 2", lambda c: attach(c.opt, on_nonfinite=DeathSaves(lr_factor=2)), ["lr_factor=2"]),
    ("death saves lr_factor a string", lambda c: DeathSaves(lr_factor="half"), ["lr_factor='half'"]),
    ("death saves max_revivals -1", lambda c: DeathSaves(max_revivals=-1), ["max_revivals=-1"]),
    # --- RollToTrain arguments ---------------------------------------------------------------------
    ("model a string", lambda c: RollToTrain("bert", c.opt), ["model='bert'"]),
    ("optimizer a string", lambda c: RollToTrain(c.model, "adamw"), ["optimizer='adamw'"]),
    ("scheduler an int", lambda c: c.trainer(scheduler=42), ["scheduler=42"]),
    ("unknown mode", lambda c: c.trainer(mode="per_epoch"), ["mode='per_epoch'"]),
    ("window 0", lambda c: c.trainer(mode="per_accumulation_step", accumulation_steps=0), ["accumulation_steps=0"]),
    ("window a float", lambda c: c.trainer(mode="per_accumulation_step", accumulation_steps=2.5),
     ["accumulation_steps=2.5"]),
    ("window without its mode", lambda c: c.trainer(accumulation_steps=4), ["accumulation_steps=4"]),
    ("loss_fn a string", lambda c: c.trainer(loss_fn="mse"), ["loss_fn='mse'"]),
    ("progress a string", lambda c: c.trainer(progress="yes"), ["progress='yes'"]),
    ("unknown device", lambda c: c.trainer(device="quantum"), ["device='quantum'"]),
    ("intelligence 31", lambda c: c.trainer(intelligence=31), ["intelligence=31"]),
    ("xp a string", lambda c: c.trainer(use_xp_system="yes"), ["use_xp_system='yes'"]),
    ("trainer seed a string", lambda c: c.trainer(seed="0"), ["seed='0'"]),
    ("trainer unknown target", lambda c: c.trainer(target="loss"), ["target='loss'"]),
    ("trainer unknown policy", lambda c: c.trainer(on_nonfinite="skip"), ["on_nonfinite='skip'"]),
    ("trainer unknown rules", lambda c: c.trainer(rules="seed-wiki"), ["rules='seed-wiki'"]),
    # --- train() and evaluate() ----------------------------------------------------------------------
    ("epochs 0", lambda c: c.trainer().train(c.loader, epochs=0), ["epochs=0"]),
    ("epochs a float", lambda c: c.trainer().train(c.loader, epochs=1.5), ["epochs=1.5"]),
    ("epochs a string", lambda c: c.trainer().train(c.loader, epochs="3"), ["epochs='3'"]),
    ("epochs a bool", lambda c: c.trainer().train(c.loader, epochs=True), ["epochs=True"]),
    ("no train data", lambda c: c.trainer().train(None), ["train_dataloader=None"]),
    ("train data an int", lambda c: c.trainer().train(42), ["train_dataloader=42"]),
    ("train data a string", lambda c: c.trainer().train("data.csv"), ["train_dataloader='data.csv'"]),
    ("eval data an int", lambda c: c.trainer().train(c.loader, eval_dataloader=42), ["eval_dataloader=42"]),
    ("evaluate an int", lambda c: c.trainer().evaluate(7), ["eval_dataloader=7"]),
    ("batch of one tensor", lambda c: c.trainer().train([(torch.ones(4, 3),)]), ["batch='tuple'"]),
    ("per-sample loss", lambda c: c.trainer(loss_fn=torch.nn.MSELoss(reduction="none")).train(c.loader),
     ["loss=<tensor of shape (4, 1)>"]),
    ("loss a float", lambda c: c.trainer(loss_fn=lambda out, y: 0.5).train(c.loader), ["loss=0.5"]),
    ("detached loss", lambda c: c.trainer(loss_fn=lambda out, y: torch.nn.functional.mse_loss(out, y).detach())
     .train(c.loader), ["loss=<tensor", "without grad_fn"]),
    ("model without .loss", lambda c: RollToTrain(HFStyle(c.model), c.opt, progress=False)
     .train([{"x": torch.ones(2, 3), "labels": torch.ones(2, 1)}]), ["returned no .loss"]),
    # --- classes and experience ------------------------------------------------------------------------
    ("class level 0", lambda c: Wizard(level=0), ["level=0"]),
    ("class level 21", lambda c: Wizard(level=21), ["level=21"]),
    ("class level a string", lambda c: Wizard(level="1"), ["level='1'"]),
    ("wizard unknown spell", lambda c: Wizard(spell="fireball"), ["spell='fireball'"]),
    ("wizard power 0", lambda c: Wizard(power=0), ["power=0"]),
    ("wizard power NaN", lambda c: Wizard(power=float("nan")), ["power=nan"]),
    ("wizard cast_on 0", lambda c: Wizard(cast_on=0), ["cast_on=0"]),
    ("rogue level a float", lambda c: Rogue(level=2.0), ["level=2.0"]),
    ("fighter max_norm negative", lambda c: Fighter(max_norm=-1), ["max_norm=-1"]),
    ("fighter spike_factor 1", lambda c: Fighter(spike_factor=1), ["spike_factor=1"]),
    ("cleric spike_factor a string", lambda c: Cleric(spike_factor="2"), ["spike_factor='2'"]),
    ("barbarian uses negative", lambda c: Barbarian(uses=-1), ["uses=-1"]),
    ("bard level 0", lambda c: Bard(level=0), ["level=0"]),
    ("paladin uses a float", lambda c: Paladin(uses=2.5), ["uses=2.5"]),
    ("class state garbage", lambda c: Wizard().load_state_dict({"lvl": 3}), ["state=['lvl']"]),
    ("trainer class a string", lambda c: c.trainer(character_class="rogue"), ["character_class='rogue'"]),
    ("trainer class a type", lambda c: c.trainer(character_class=Rogue), ["character_class=<class"]),
    ("xp negative", lambda c: level_for_xp(-5), ["xp=-5"]),
    ("proficiency level 0", lambda c: proficiency_bonus(0), ["level=0"]),
    ("xp scale negative", lambda c: ExperienceSystem(xp_scale=-1), ["xp_scale=-1"]),
    ("success xp a string", lambda c: ExperienceSystem(success_xp="10"), ["success_xp='10'"]),
    ("add_proficiency a string", lambda c: ExperienceSystem(add_proficiency="yes"), ["add_proficiency='yes'"]),
    # --- monsters and encounters -----------------------------------------------------------------------
    ("monster hit points 0", lambda c: Monster(hit_points=0), ["hit_points=0"]),
    ("monster hit points NaN", lambda c: LossDragon(hit_points=float("nan")), ["hit_points=nan"]),
    ("monster armour class 31", lambda c: Monster(armor_class=31), ["armor_class=31"]),
    ("monster challenge rating 0.3", lambda c: Monster(challenge_rating=0.3), ["challenge_rating=0.3"]),
    ("monster turns 0", lambda c: GradientOoze(turns=0), ["turns=0"]),
    ("monster name an int", lambda c: WeightWraith(name=3), ["name=3"]),
    ("dragon factor 0", lambda c: LossDragon(factor=0), ["factor=0"]),
    ("ooze slow above 1", lambda c: GradientOoze(slow=1.5), ["slow=1.5"]),
    ("wraith sigma negative", lambda c: WeightWraith(sigma=-0.1), ["sigma=-0.1"]),
    ("monster state garbage", lambda c: LossDragon().load_state_dict({"hp": 1}), ["state=['hp']"]),
    ("monsters a string", lambda c: attach(c.opt, monsters="dragon"), ["monsters='dragon'"]),
    ("monsters a class", lambda c: c.trainer(monsters=[LossDragon]), ["monsters=[<class"]),
    ("encounter chance 1.5", lambda c: c.trainer(monsters=[LossDragon()], encounter_chance=1.5),
     ["encounter_chance=1.5"]),
    ("encounter chance NaN", lambda c: attach(c.opt, monsters=[LossDragon()], encounter_chance=float("nan")),
     ["encounter_chance=nan"]),
    ("encounter chance without monsters", lambda c: attach(c.opt, encounter_chance=0.5), ["encounter_chance=0.5"]),
    ("encounter chance a string", lambda c: c.trainer(encounter_chance="often"), ["encounter_chance='often'"]),
    ("schedule a list", lambda c: c.trainer(encounter_schedule=[LossDragon()]), ["encounter_schedule=["]),
    ("schedule negative step", lambda c: attach(c.opt, encounter_schedule={-1: LossDragon()}), ["step=-1"]),
    ("schedule a monster name", lambda c: attach(c.opt, encounter_schedule={3: "dragon"}),
     ["encounter_schedule[3]='dragon'"]),
    ("encounter table state garbage", lambda c: EncounterTable([LossDragon()]).load_state_dict({"active": {
        "source": "monsters", "key": 7, "state": {}}}), ["state['active']=", "'key': 7"]),
    # --- panel configs ----------------------------------------------------------------------------------
    ("panel config a string", lambda c: TrainingPanel.from_config("moons"), ["cfg='moons'"]),
    ("panel unknown key", lambda c: TrainingPanel.from_config({"colour": "red"}), ["config key='colour'"]),
    ("panel lr negative", lambda c: TrainingPanel.from_config({"lr": -1}), ["lr=-1"]),
    ("panel lr NaN", lambda c: TrainingPanel.from_config({"lr": float("nan")}), ["lr=nan"]),
    ("panel lr a string", lambda c: TrainingPanel.from_config({"lr": "0.1"}), ["lr='0.1'"]),
    ("panel unknown dataset", lambda c: TrainingPanel.from_config({"dataset": "mnist"}), ["dataset='mnist'"]),
    ("panel unknown optimizer", lambda c: TrainingPanel.from_config({"optimizer": "lion"}), ["optimizer='lion'"]),
    ("panel unknown activation", lambda c: TrainingPanel.from_config({"activation": "swish2"}),
     ["activation='swish2'"]),
    ("panel unknown rules", lambda c: TrainingPanel.from_config({"rules": "nope"}), ["rules='nope'"]),
    ("panel bad rule dict", lambda c: TrainingPanel.from_config({"rules": {"dc": "x"}}),
     ["rules={'dc': 'x'}", "dc='x'"]),
    ("panel hidden 0", lambda c: TrainingPanel.from_config({"hidden": 0}), ["hidden=0"]),
    ("panel layers 7", lambda c: TrainingPanel.from_config({"layers": 7}), ["layers=7"]),
    ("panel points 5", lambda c: TrainingPanel.from_config({"points": 5}), ["points=5"]),
    ("panel noise negative", lambda c: TrainingPanel.from_config({"noise": -0.5}), ["noise=-0.5"]),
    ("panel intelligence 0", lambda c: TrainingPanel.from_config({"intelligence": 0}), ["intelligence=0"]),
    ("panel unknown class", lambda c: TrainingPanel.from_config({"character_class": "necromancer"}),
     ["character_class='necromancer'"]),
    ("panel class level 21", lambda c: TrainingPanel.from_config({"class_level": 21}), ["class_level=21"]),
    ("panel unknown monster", lambda c: TrainingPanel.from_config({"monsters": ["lich"]}), ["monsters=['lich']"]),
    ("panel monsters a string", lambda c: TrainingPanel.from_config({"monsters": "dragon"}), ["monsters='dragon'"]),
    ("panel monster twice", lambda c: TrainingPanel.from_config({"monsters": ["dragon", "dragon"]}),
     ["monsters=['dragon', 'dragon']"]),
    ("panel encounter chance 2", lambda c: TrainingPanel.from_config({"encounter_chance": 2}), ["encounter_chance=2"]),
    ("panel experience a string", lambda c: TrainingPanel.from_config({"experience": "yes"}), ["experience='yes'"]),
    ("panel xp scale negative", lambda c: TrainingPanel.from_config({"xp_scale": -1}), ["xp_scale=-1"]),
    ("panel seed negative", lambda c: TrainingPanel.from_config({"seed": -1}), ["seed=-1"]),
    ("panel steps negative", lambda c: TrainingPanel.from_config({"steps": -5}), ["steps=-5"]),
    ("panel steps a bool", lambda c: TrainingPanel.from_config({"steps": True}), ["steps=True"]),
    ("panel steps beyond the replay bound", lambda c: TrainingPanel.from_config({"steps": 1_000_000}),
     ["steps=1000000", "at most"]),
    ("panel die of a million sides", lambda c: TrainingPanel.from_config({"rules": {"sides": 1_000_000}}),
     ["sides=1000000", "units of work"]),
    ("panel margin scale 1e300", lambda c: TrainingPanel.from_config(
        {"rules": {"success": {"margin": {"scale": 1e300}}}}), ["success.scale=1e+300"]),
    ("panel crit success 1e308", lambda c: TrainingPanel.from_config({"rules": {"crit_success": 1e308}}),
     ["crit_success=1e+308"]),
    ("panel dataset of 10 MB", lambda c: TrainingPanel.from_config({"dataset": "x" * 10_000_000}),
     ["dataset='xxxx", "(10,000,000 characters)"]),
    ("rule band beyond the bound", lambda c: SavingThrow(fail=-1001.0), ["fail=-1001.0"]),
    ("rule die of a million sides", lambda c: SavingThrow(sides=1_000_000), ["sides=1000000"]),
    ("compare panel seeds 0", lambda c: ComparePanel.from_config({"seeds": 0}), ["seeds=0"]),
    ("compare panel a class key", lambda c: ComparePanel.from_config({"character_class": "rogue"}),
     ["config key='character_class'"]),
    # --- history JSON --------------------------------------------------------------------------------
    ("history not JSON", lambda c: history_from_json("not json"), ["text='not json'"]),
    ("history JSON an int", lambda c: history_from_json(42), ["text=42"]),
    ("history of another format", lambda c: history_from_json('{"format": "other/1"}'), ["format='other/1'"]),
    ("history a list", lambda c: history_from_json("[]"), ["format='list'"]),
    ("history steps a dict", lambda c: history_from_dict({"format": "rtt_edu.history/1", "steps": {}, "evals": []}),
     ["steps={}"]),
    ("history unknown field", lambda c: history_from_json(c.history_json(colour="red")),
     ["steps[0] fields=['colour']"]),
    ("history natural a string", lambda c: history_from_json(c.history_json(natural="x")), ["steps[0].natural='x'"]),
    ("history multiplier a bool", lambda c: history_from_json(c.history_json(multiplier=True)),
     ["steps[0].multiplier=True"]),
    ("history events not events", lambda c: history_from_json(c.history_json(events=["boom"])),
     ["steps[0].events=['boom']"]),
    ("history missing outcome", lambda c: history_from_dict({"format": "rtt_edu.history/1", "steps": [
        {"step": 0, "epoch": 0, "natural": 3, "total": 3, "multiplier": 0.0}], "evals": []}), ["['outcome']"]),
    ("history eval loss null", lambda c: history_from_dict({"format": "rtt_edu.history/1", "steps": [], "evals": [
        {"step": 0, "epoch": 0, "loss": None}]}), ["evals[0].loss=None"]),
    ("history file missing", lambda c: load_history(path_of(c, "nope.json")), ["path=", "nope.json'"]),
    ("history file a folder", lambda c: load_history(str(c.tmp)), ["path=", "not a folder"]),
    ("history file binary", lambda c: load_history(c.file("h.json", b"\xff\xfe\x00garbage")), ["h.json'"]),
    ("history file truncated", lambda c: load_history(c.file("t.json", c.history_json()[:40])), ["t.json'", "text="]),
    ("history column unknown", lambda c: History().column("nope"), ["name='nope'"]),
    ("history save into a missing folder", lambda c: save_history(History(), path_of(c, "no/such/h.json")),
     ["h.json'"]),
    # --- checkpoint files ------------------------------------------------------------------------------
    ("checkpoint missing", lambda c: c.trainer().load_checkpoint(path_of(c, "gone.pt")), ["gone.pt'"]),
    ("checkpoint a text file", lambda c: c.trainer().load_checkpoint(c.file("notes.pt", "loss 0.3\n")), ["notes.pt'"]),
    ("checkpoint truncated", lambda c: c.trainer().load_checkpoint(c.file("cut.pt", open(c.checkpoint(), "rb")
                                                                             .read()[:300])), ["cut.pt'"]),
    ("checkpoint empty", lambda c: c.trainer().load_checkpoint(c.file("empty.pt", b"")), ["empty.pt'"]),
    ("checkpoint path an int", lambda c: c.trainer().load_checkpoint(42), ["path=42"]),
    ("checkpoint save path None", lambda c: c.trainer().save_checkpoint(None), ["path=None"]),
    ("checkpoint save into a folder", lambda c: c.trainer().save_checkpoint(str(c.tmp)), ["path="]),
    # --- empty loaders, empty models, stray schedulers, bounds, save_every ----------------------------
    ("train on an empty loader", lambda c: c.trainer().train([]), ["train_dataloader=[]", "empty"]),
    ("train on an empty DataLoader", lambda c: c.trainer().train(DataLoader(TensorDataset(torch.zeros(0, 3)))),
     ["train_dataloader=<torch.utils.data"]),
    ("evaluate on an empty loader", lambda c: c.trainer().train(c.loader, []), ["eval_dataloader=[]", "empty"]),
    ("a model without parameters", lambda c: RollToTrain(torch.nn.ReLU(), c.opt), ["model=ReLU()"]),
    ("a scheduler of another optimizer", lambda c: RollToTrain(c.model, c.opt, torch.optim.lr_scheduler.StepLR(
        torch.optim.SGD(c.model.parameters(), lr=0.1), 3)), ["scheduler=<torch.optim.lr_scheduler.StepLR"]),
    ("history bound 0", lambda c: History(max_steps=0), ["max_steps=0"]),
    ("history keep unknown", lambda c: History(keep="first:3"), ["keep='first:3'"]),
    ("trainer history not a History", lambda c: c.trainer(history=[]), ["history=[]"]),
    ("save_every 0", lambda c: c.trainer().train(c.loader, save_every=0, checkpoint_path=path_of(c, "r.pt")),
     ["save_every=0"]),
    ("save_every without a path", lambda c: c.trainer().train(c.loader, save_every=5), ["checkpoint_path=None"]),
    ("on_step not callable", lambda c: c.trainer().train(c.loader, on_step="save"), ["on_step='save'"]),
    ("checkpoint of another optimizer", lambda c: RollToTrain(c.model, torch.optim.Adam(c.model.parameters()),
                                                              progress=False).load_checkpoint(c.checkpoint()),
     ["good.pt'", "Adam here and SGD in the file"]),
    ("checkpoint of another model", lambda c: (lambda m: RollToTrain(m, torch.optim.SGD(
        m.parameters(), lr=0.1), progress=False))(torch.nn.Linear(3, 2)).load_checkpoint(c.checkpoint()),
     ["good.pt'", "shape (2, 3) here and (1, 3) in the file"]),
]

def innermost_frame(tb):
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename


@pytest.mark.timeout(60)      # each row is refused at once; a regression that trains for minutes fails here
@pytest.mark.parametrize("call,needles", [pytest.param(call, needles, id=name) for name, call, needles in CATALOGUE])
def test_bad_input_is_refused_naming_the_argument_and_value(tmp_path, call, needles):
    ctx = Ctx(tmp_path)
    with pytest.raises((ValueError, TypeError)) as err:
        call(ctx)
    message = str(err.value)
    assert all(n in message for n in needles), message
    assert len(message) <= 1000, f"a message of {len(message):,} characters: {message[:300]}"
    assert not innermost_frame(err.tb).startswith(TORCH_DIR), f"raised inside torch: {message}"
    assert all(torch.equal(p, w) for p, w in zip(ctx.model.parameters(), ctx.weights)), "training started"
    assert not ctx.opt._optimizer_step_pre_hooks and not ctx.opt._optimizer_step_post_hooks
    assert not ctx.opt.state, "the optimizer took a step"


def test_the_catalogue_is_large_and_covers_every_area():
    names = [name for name, _, _ in CATALOGUE]
    assert len(names) == len(set(names)) and len(names) >= 40
    assert rtt_edu.RollToTrainError.__mro__[1] is ValueError
