"""Interactive panels for the lessons (ipywidgets 8; ipympl canvases where that backend is active).

``DicePanel``      a saving throw's exact multiplier distribution, live under the sliders
``TrainingPanel``  the dice playground: a toy network trained with the dice beside the same network
                   without them; a dice slider re-trains the dice run from the same seed at once
``ComparePanel``   many seeds of dice vs plain, trained as one batch, shown as bands (live)
``DiceControls``   the dice sliders the two training panels share (a rule as widgets)

Each is a plain class that owns its widget tree (display it by making it a cell's last value),
exposes ``controls`` (name → widget) and has ``close()``. See :mod:`rtt_edu.widgets.base`.
"""
from .base import LiveFigure, Panel, figure_mode
from .compare import ComparePanel
from .config import CompareConfig, TrainingConfig
from .dice import DicePanel, verdict
from .dice_controls import DiceControls
from .run import ToyRun
from .training import TrainingPanel

__all__ = ["DicePanel", "TrainingPanel", "ComparePanel", "TrainingConfig", "CompareConfig", "ToyRun", "Panel",
           "LiveFigure", "figure_mode", "verdict", "DiceControls"]
