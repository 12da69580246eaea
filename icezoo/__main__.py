"""``python -m icezoo ...``: the console script, also for ``torchrun --nproc-per-node N -m icezoo train RECIPE``."""

import sys

from .cli import main

sys.exit(main())
