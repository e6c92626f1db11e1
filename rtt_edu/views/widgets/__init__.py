"""Interactive panels for the lessons (ipywidgets 8; ipympl canvases where that backend is active).

``DicePanel``      a saving throw's exact multiplier distribution, live under the sliders
``TrainingPanel``  the dice playground: a toy network trained with the dice beside the same network
                   without them; a dice slider re-trains the dice run from the same seed at once
``ComparePanel``   many seeds of dice vs plain, trained as one batch, shown as bands (live)
``DiceControls``   the dice sliders the two training panels share (a rule as widgets)

Each is a plain class that owns its widget tree (display it by making it a cell's last value),
exposes ``controls`` (name → widget) and has ``close()``. See :mod:`rtt_edu.views.widgets.base`.
"""
from rtt_edu.views.widgets.base import LiveFigure, Panel, figure_mode
from rtt_edu.views.widgets.compare import ComparePanel
from rtt_edu.views.widgets.config import CompareConfig, TrainingConfig
from rtt_edu.views.widgets.dice import DicePanel, rule_verdict
from rtt_edu.views.widgets.dice_controls import DiceControls
from rtt_edu.views.widgets.run import ToyRun
from rtt_edu.views.widgets.training import TrainingPanel

__all__ = ["DicePanel", "TrainingPanel", "ComparePanel", "TrainingConfig", "CompareConfig", "ToyRun", "Panel",
           "LiveFigure", "figure_mode", "rule_verdict", "DiceControls"]
