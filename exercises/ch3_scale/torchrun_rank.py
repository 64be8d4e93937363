"""The program torchrun starts on every rank for `run_ranks(..., launcher="torchrun")`.

`python -m exercises.ch3_scale.torchrun_rank FOLDER`: the function and its arguments wait in
FOLDER; the result or the error goes back there, as with the other launchers.
"""

from __future__ import annotations

import sys

from exercises.ch3_scale.harness import torchrun_rank

if __name__ == "__main__":
    torchrun_rank(sys.argv[1])
