"""Train refuser_b: refuser's recipe (two phases, same data, same shape) with other seeds.

    python -m exercises.ch4_evals_oversight.organisms.refuser_b.train          # minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.refuser_b.train --check  # retrain, compare with metrics.json

Only the initialisation, the order of the training data and the random words of safety training
differ from refuser's. Section 4.3 transfers suffixes optimised on refuser to this organism: what
a suffix exploits in one network and not the other is what those seeds decided. The properties
re-checked on its committed weights are refuser's (see refuser/train.py).
"""

from __future__ import annotations

from exercises.ch4_evals_oversight.chat.train import TrainConfig
from exercises.ch4_evals_oversight.organisms.refuser.train import RefuserConfig, main

NAME = "refuser_b"
CONFIG = RefuserConfig(
    pretrain=TrainConfig(seed=1, steps=1200, batch_size=16, seq_len=64, lr=2e-3),
    safety=TrainConfig(seed=101, steps=800, batch_size=16, seq_len=64, lr=1e-3, warmup=50),
    noise_seed=1,
)

if __name__ == "__main__":
    main(NAME, CONFIG, __doc__)
