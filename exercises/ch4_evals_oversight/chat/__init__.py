"""The chapter's chat-model library: tokenizer and chat format, task corpora, the model wrapper,
training and fine-tuning, and the Inspect provider. See ../README.md for the 20-line tour.

Import from here; `inspect_provider` is imported on its own (it needs inspect-ai and registers
the `arena` model API with Inspect as a side effect).
"""

from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.corpus import Example, chapter_tokenizer, examples, is_correct, training_set
from exercises.ch4_evals_oversight.chat.model import ChatModel, Generation
from exercises.ch4_evals_oversight.chat.tokenizer import UnknownWords, WordTokenizer
from exercises.ch4_evals_oversight.chat.train import (
    Shape,
    TrainConfig,
    accuracy,
    clone,
    correct,
    fit,
    new_organism,
    train_organism,
)

__all__ = [
    "ChatModel",
    "Example",
    "Generation",
    "Shape",
    "TrainConfig",
    "UnknownWords",
    "WordTokenizer",
    "accuracy",
    "chapter_tokenizer",
    "clone",
    "correct",
    "corpus",
    "examples",
    "fit",
    "is_correct",
    "new_organism",
    "train_organism",
    "training_set",
]
