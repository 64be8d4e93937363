"""The full config: a real small instruct model behind the same `ChatModel` interface.

`load_pretrained_chat()` loads Qwen2.5-0.5B-Instruct through TransformerLens
(`HookedTransformer.from_pretrained`, so hooks, caches and `start_at_layer` work as on the
organisms) and wraps its Hugging Face tokenizer and chat template. It downloads about 1 GB
(model.safetensors, 988 MB in bfloat16, loaded as float32: ~2 GB of memory) on first use; offline
with an empty cache it raises one `PretrainedUnavailable` that says so. Nothing on the default
path calls it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from exercises.ch4_evals_oversight.chat.model import ChatModel
from exercises.ch4_evals_oversight.chat.tokenizer import Message
from exercises.framework.pretrained import PretrainedUnavailable, load_pretrained

PRETRAINED_CHAT = "Qwen/Qwen2.5-0.5B-Instruct"
# What the full config downloads, as each section's manifest should list it under downloads_full.
PRETRAINED_DOWNLOADS = {
    PRETRAINED_CHAT: "Qwen2.5-0.5B-Instruct's weights and tokenizer from the Hugging Face hub (about 1 GB)",
}
PRETRAINED_FILES = {
    PRETRAINED_CHAT: (
        "config.json", "generation_config.json", "model.safetensors",
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
    ),
}  # fmt: skip


class HFChatTokenizer:
    """A Hugging Face tokenizer with a chat template, behind the organisms' tokenizer interface."""

    def __init__(self, tokenizer: Any) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"{tokenizer.name_or_path}: the tokenizer has no chat template (is it an instruct model?)")
        self.hf = tokenizer
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        # Render to text, then encode: the template already holds every special token it needs.
        text = self.hf.apply_chat_template(
            [{"role": role, "content": content} for role, content in messages],
            add_generation_prompt=add_generation_prompt,
            tokenize=False,
        )
        return self.encode(text)

    def count(self, text: str) -> int:
        return len(self.encode(text))


def load_pretrained_chat(name: str = PRETRAINED_CHAT, device: str | None = None) -> ChatModel:
    """A pretrained instruct model as a ChatModel; raises `PretrainedUnavailable` offline without a cache."""
    model = load_pretrained(
        name, what=PRETRAINED_DOWNLOADS.get(name), files=PRETRAINED_FILES.get(name, ()), device=device
    )
    return ChatModel(model.eval(), HFChatTokenizer(model.tokenizer), name)


__all__ = [
    "PRETRAINED_CHAT",
    "PRETRAINED_DOWNLOADS",
    "HFChatTokenizer",
    "PretrainedUnavailable",
    "load_pretrained_chat",
]
