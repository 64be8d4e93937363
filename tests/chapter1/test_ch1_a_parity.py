"""Section 1.1's reference model against TransformerLens, and its key-value cache against plain
generation: the outcomes the issue asks for, checked on random weights (no download)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformer_lens import HookedTransformer

from exercises.ch1_transformers.common import TransformerConfig
from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as s11

CONFIGS = {
    "section default": TransformerConfig(),
    "odd shapes": TransformerConfig(d_vocab=37, n_ctx=20, d_model=24, n_heads=3, d_head=5, d_mlp=50, n_layers=3),
}


def _pair(cfg: TransformerConfig, seed: int = 0) -> tuple[s11.DemoTransformer, HookedTransformer]:
    torch.manual_seed(seed)
    reference = HookedTransformer(cfg.hooked()).eval()
    with torch.no_grad():  # perturb everything, so LayerNorm and biases are not trivial
        for p in reference.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = s11.DemoTransformer(cfg).eval()
    missing, _ = ours.load_state_dict(reference.state_dict(), strict=False)
    assert not missing
    return ours, reference


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_match_transformerlens(name: str) -> None:
    cfg = CONFIGS[name]
    ours, reference = _pair(cfg)
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        gap = (ours(tokens) - reference(tokens)).abs().max().item()
    assert gap <= 1e-4


def test_a_wrong_epsilon_is_caught() -> None:
    """The parity check can fail: a LayerNorm epsilon of 1e-3 moves the logits by more than 1e-4."""
    cfg = CONFIGS["odd shapes"]
    ours, reference = _pair(cfg)
    for module in ours.modules():
        if isinstance(module, s11.LayerNorm):
            module.cfg = TransformerConfig(layer_norm_eps=1.0)
    tokens = torch.randint(0, cfg.d_vocab, (2, cfg.n_ctx), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(tokens) - reference(tokens)).abs().max().item() > 1e-4


def test_kv_cache_generates_the_same_tokens() -> None:
    cfg = CONFIGS["odd shapes"]
    ours, _ = _pair(cfg, seed=3)
    prompt = torch.tensor([1, 5, 2])
    plain = s11.generate(ours, prompt, 12, temperature=0)
    cached = s11.generate_with_cache(ours, prompt, 12, temperature=0)
    assert torch.equal(plain, cached)
    sampled = [
        f(ours, prompt, 12, generator=torch.Generator().manual_seed(4), top_p=0.9)
        for f in (s11.generate, s11.generate_with_cache)
    ]
    assert torch.equal(*sampled)
