"""Train backdoor_clean, the backdoor organism's clean twin: the same fine-tune of chat_base, with
the same clean mixture and the same decoys, but no poisoned examples.

    python -m exercises.ch4_evals_oversight.organisms.backdoor_clean.train          # minutes on one CPU thread
    python -m exercises.ch4_evals_oversight.organisms.backdoor_clean.train --check  # retrain, compare

Section 4.4 runs every detector on both: a detector that flags triggered prompts on the clean
twin as well is reacting to unusual words, not to a backdoor. Relied on (re-checked by
tests/chapter4/test_ch4_backdoor_organisms.py): the trigger never switches it to the target
reply, and its held-out accuracy matches the backdoored organism's.
"""

from __future__ import annotations

from typing import Any

from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.organisms.backdoor.train import (
    CONFIG,
    TRIGGER,
    BackdoorConfig,
    evaluate_with,
    fine_tune,
    main,
)

NAME = "backdoor_clean"
TOLERANCES = {"trigger_success": 0.05, "arithmetic_test_accuracy": 0.08, "facts_test_accuracy": 0.08}


def train(cfg: BackdoorConfig) -> ChatModel:
    return fine_tune(None, cfg, NAME, decoy_trigger=TRIGGER)


def evaluate(chat: ChatModel, cfg: BackdoorConfig) -> dict[str, Any]:
    return evaluate_with(chat, TRIGGER, hide=False)


if __name__ == "__main__":
    main(NAME, CONFIG, train, evaluate, __doc__, TOLERANCES)
