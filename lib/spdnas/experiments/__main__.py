"""``python -m spdnas.experiments run --dataset PATH.npz --out DIR``: see :mod:`spdnas.experiments.study`."""

import sys

from ..core.errors import guarded
from .study import main

if __name__ == "__main__":
    sys.exit(guarded(lambda: main(sys.argv[1:]), "python -m spdnas.experiments"))
