"""Train the 1-layer control: `python -m exercises.ch1_transformers.organisms.induction_1l_control.train`.

The script is the 2-layer organism's (same data, head shape, seed, steps); only the depth
differs, which is the point of a control.
"""

from __future__ import annotations

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.organisms.induction_2l.train import TrainConfig, train


def main() -> None:
    cfg = TrainConfig(n_layers=1)
    model, reached = train(cfg)
    print(f"saved {organisms.save(cfg.name, model, cfg.model_kwargs(), cfg, reached)}: {reached}")


if __name__ == "__main__":
    main()
