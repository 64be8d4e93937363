"""The full config offline: the same ChatModel code on a tiny random stand-in for
Qwen2.5-0.5B-Instruct loaded through TransformerLens, and one clear error with an empty cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exercises.ch4_evals_oversight.chat.pretrained import (
    PRETRAINED_CHAT,
    PRETRAINED_DOWNLOADS,
    PretrainedUnavailable,
    load_pretrained_chat,
)
from tests.chapter1.conftest import use_hub_cache

pytestmark = pytest.mark.slow  # builds and loads a model through transformers: ~10 s on 2 cores


def test_the_chat_code_runs_on_the_stand_in(tiny_qwen_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_hub_cache(monkeypatch, tiny_qwen_cache)
    chat = load_pretrained_chat(device="cpu")
    ids = chat.prompt_ids([("system", "be brief"), ("user", "what is 2 + 3 ?")])
    text = chat.tokenizer.hf.decode(ids)
    assert (
        text
        == "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nwhat is 2 + 3 ?<|im_end|>\n<|im_start|>assistant\n"
    )
    (reply,) = chat.generate(["what is 2 + 3 ?"], max_new_tokens=4)
    assert len(reply.tokens) <= 4
    scores = chat.choice_logprobs(["what is 2 + 3 ?"], ["5", "6"])
    assert scores.shape == (1, 2) and torch.isfinite(scores).all()
    acts = chat.activations(["what is 2 + 3 ?", "what color is zeck ?"], "blocks.1.hook_resid_post")
    assert acts.shape == (2, chat.model.cfg.d_model)


def test_offline_without_the_model_the_message_says_what_to_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hub").mkdir()
    use_hub_cache(monkeypatch, tmp_path / "hub")
    with pytest.raises(PretrainedUnavailable) as caught:
        load_pretrained_chat(device="cpu")
    message = str(caught.value)
    assert "about 1 GB" in PRETRAINED_DOWNLOADS[PRETRAINED_CHAT]
    for needed in (
        "about 1 GB",
        "HF_HUB_OFFLINE is set",
        f"hf download {PRETRAINED_CHAT} ",
        "models--Qwen--Qwen2.5-0.5B-Instruct",
    ):
        assert needed in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
