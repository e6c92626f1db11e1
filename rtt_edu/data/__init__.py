"""Data generated from a seed, never downloaded: 2-D toy sets and a fantasy-sentence grammar."""
from rtt_edu.data import grammar, toy
from rtt_edu.data.grammar import *  # noqa: F401,F403
from rtt_edu.data.toy import *  # noqa: F401,F403

__all__ = [*toy.__all__, *grammar.__all__]
