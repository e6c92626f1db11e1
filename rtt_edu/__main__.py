"""``python -m rtt_edu``: the ``rtt-edu`` command (see :mod:`rtt_edu.cli`)."""
import sys

from rtt_edu.cli import main

sys.exit(main())
