"""``python -m spdnas.experiments``: see :mod:`spdnas.experiments.cli`."""

import sys

from ..cli import guarded
from .cli import main

if __name__ == "__main__":
    sys.exit(guarded(main))
