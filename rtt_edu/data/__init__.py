"""Data generated from a seed, never downloaded: 2-D toy sets and a fantasy-sentence grammar."""
from . import toy, grammar
from .toy import *      # noqa: F401,F403
from .grammar import *  # noqa: F401,F403

__all__ = [*toy.__all__, *grammar.__all__]
