"""Smoke test of the chapter 4 image: the base chat organism answers through an Inspect eval with
no network (the containers run with network_mode none), scored and logged as section 4.1 does."""

import os
import tempfile

import inspect_ai
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate

from exercises.ch4_evals_oversight.chat import corpus, inspect_provider  # noqa: F401 (registers arena/)

assert os.environ["ARENA_CHAPTER"] == "ch4"
samples = [Sample(input=e.prompt, target=e.target) for e in corpus.examples("facts", "train")[:4]]
with tempfile.TemporaryDirectory() as logs:
    (log,) = eval(
        Task(dataset=samples, solver=generate(), scorer=match()), model="arena/chat_base", log_dir=logs, display="none"
    )
assert log.status == "success", log.error
accuracy = log.results.scores[0].metrics["accuracy"].value
print(
    f"ch4 ok: inspect_ai {inspect_ai.__version__}, chat_base accuracy {accuracy:.2f} on {len(samples)} facts, offline"
)
