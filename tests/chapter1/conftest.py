"""An offline Hugging Face cache holding a tiny random-weight stand-in for "gpt2".

The full config of sections 1.1-1.4 calls `HookedTransformer.from_pretrained("gpt2")`, which
needs the hub. These fixtures lay out a hub cache (`models--gpt2/refs/main` naming a snapshot,
`models--gpt2/snapshots/<commit>/<files>`) with the file names of the real repository, so the
real loading code (TransformerLens reading the HF config, transformers reading the weights and
the tokenizer) runs end to end without a network. The numbers are meaningless; the code path,
shapes, dtypes and names are what the tests check.

huggingface_hub is imported only inside the fixtures: it reads HF_HUB_OFFLINE once, on first
import, and other tests in this folder set that variable before they import TransformerLens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from exercises.ch1_transformers.common import IOI_NAMES, IOI_PLACES, IOI_VOCAB, make_stories

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # any 40 hex digits: the cache only matches refs to folders
END_OF_TEXT = "<|endoftext|>"  # GPT-2's only special token: BOS, EOS and UNK at once
# Left out of the tokenizer's training text, so their IOI prompts do not line up (1.3 filters them).
UNSEEN_NAMES = tuple(IOI_NAMES[-8:])
UNSEEN_PLACE = IOI_PLACES[-1]


@dataclass(frozen=True)
class TinyGPT2:
    """Where the stand-in lives, and which IOI words its tokenizer never saw."""

    cache: Path
    snapshot: Path
    unseen_names: tuple[str, ...] = UNSEEN_NAMES
    unseen_place: str = UNSEEN_PLACE


def _training_text() -> list[str]:
    """Project text for the BPE merges: the chapter's stories, 1.4's sentiment sentences and the
    IOI words except UNSEEN_NAMES and UNSEEN_PLACE, which therefore split into several tokens."""
    from exercises.ch1_transformers.s4_probing import solutions as s14

    ioi_words = [w for w in IOI_VOCAB if w not in (*UNSEEN_NAMES, UNSEEN_PLACE)]
    return [*make_stories(100), *s14.POSITIVE, *s14.NEGATIVE, *s14.NEUTRAL, " good bad", " ".join(ioi_words)]


def _save_tokenizer(snapshot: Path) -> int:
    """Train a byte-level BPE tokenizer as GPT-2's is built and save it under the real repo's
    file names (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json); -> vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1000, special_tokens=[END_OF_TEXT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_training_text(), trainer)
    tokenizer.save(str(snapshot / "tokenizer.json"))
    tokenizer.model.save(str(snapshot))  # vocab.json and merges.txt
    # The real file says only this; transformers infers GPT2Tokenizer from config.json.
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 128}))
    return tokenizer.get_vocab_size()


def _save_model(snapshot: Path, vocab_size: int) -> None:
    """A 2-layer GPT-2 with every parameter perturbed (so LayerNorm is not the identity and biases
    are not zero), saved as config.json, generation_config.json and model.safetensors."""
    from transformers import GPT2Config, GPT2LMHeadModel

    end = json.loads((snapshot / "vocab.json").read_text())[END_OF_TEXT]
    # n_ctx is a legacy key that GPT2Config no longer defines, but the real config.json has it and
    # TransformerLens reads it: without it, from_pretrained fails with an AttributeError.
    config = GPT2Config.from_dict({
        "n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 128, "n_ctx": 128, "vocab_size": vocab_size,
        "bos_token_id": end, "eos_token_id": end,
    })  # fmt: skip
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(snapshot)


@pytest.fixture(scope="session")
def tiny_gpt2_cache(tmp_path_factory: pytest.TempPathFactory) -> TinyGPT2:
    """A hub cache folder holding the tiny "gpt2" (built once per session: about 2 s)."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / "models--gpt2"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    _save_model(snapshot, _save_tokenizer(snapshot))
    return TinyGPT2(cache, snapshot)


def use_hub_cache(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """Point the hub at `cache`, offline.

    The variables are for code that reads them later; huggingface_hub reads them once, when first
    imported, so its module constants are patched too (transformers and TransformerLens look them
    up at call time through `huggingface_hub.constants`)."""
    import huggingface_hub.constants

    home = str(cache.parent)
    for var, value in [
        ("HF_HOME", home),
        ("HF_HUB_CACHE", str(cache)),
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
    ]:
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", home)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def tiny_gpt2(tiny_gpt2_cache: TinyGPT2, monkeypatch: pytest.MonkeyPatch) -> TinyGPT2:
    """The offline hub for this test holds the tiny "gpt2"."""
    torch.set_num_threads(1)
    use_hub_cache(monkeypatch, tiny_gpt2_cache.cache)
    return tiny_gpt2_cache


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The offline hub for this test holds nothing, as on a learner's first offline run."""
    cache = tmp_path / "hub"
    cache.mkdir()
    use_hub_cache(monkeypatch, cache)
    return cache
