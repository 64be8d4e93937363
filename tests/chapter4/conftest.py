"""An offline Hugging Face cache holding a tiny random-weight stand-in for chapter 4's full-config
model (Qwen2.5-0.5B-Instruct), laid out like chapter 1's gpt2 stand-in (tests/chapter1/conftest.py):
the real repository's file names, a Qwen2 config at toy size, a byte-level BPE tokenizer trained on
the chapter's corpus, with Qwen's chat tokens and a chat template. TransformerLens's and
transformers' real loading code runs on it end to end; the numbers it produces mean nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from exercises.ch4_evals_oversight.chat import corpus
from exercises.ch4_evals_oversight.chat.pretrained import PRETRAINED_CHAT

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen's template, reduced to what the chapter uses: role turns, then the assistant's opening.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _save_tokenizer(snapshot: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    text = [
        f"{e.prompt} {e.answer}" for f in ("arithmetic", "facts", "chain") for e in corpus.examples(f, "test")[:200]
    ]
    tokenizer.train_from_iterator([*text, "system user assistant"], trainer)
    tokenizer.save(str(snapshot / "tokenizer.json"))
    tokenizer.model.save(str(snapshot))  # vocab.json and merges.txt
    (snapshot / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "chat_template": CHAT_TEMPLATE, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "bos_token": None, "model_max_length": 128,
    }))  # fmt: skip
    return tokenizer.get_vocab_size()


def _save_model(snapshot: Path, vocab_size: int) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    vocab = json.loads((snapshot / "tokenizer.json").read_text())["model"]["vocab"]
    config = Qwen2Config(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True,
        eos_token_id=vocab["<|im_end|>"], bos_token_id=vocab["<|endoftext|>"],
    )  # fmt: skip
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(snapshot)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Toy models run fastest on one thread, and a shared 2-core machine thrashes with more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_qwen_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub cache folder holding the tiny stand-in (built once per session)."""
    cache = tmp_path_factory.mktemp("hf4") / "hub"
    repo = cache / ("models--" + PRETRAINED_CHAT.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    _save_model(snapshot, _save_tokenizer(snapshot))
    return cache
