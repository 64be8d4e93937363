"""Smoke test of the chapter 1 image: a tiny HookedTransformer (random weights, no download)
runs a forward pass with a hook, the way the interpretability sections use it."""

import os

import torch
import transformer_lens
from transformer_lens import HookedTransformer, HookedTransformerConfig

assert os.environ["ARENA_CHAPTER"] == "ch1"
cfg = HookedTransformerConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=20, act_fn="relu")
model = HookedTransformer(cfg)
logits, cache = model.run_with_cache(torch.randint(0, 20, (2, 8)))
assert logits.shape == (2, 8, 20), logits.shape
assert cache["blocks.0.attn.hook_pattern"].shape == (2, 4, 8, 8)
print(f"ch1 ok: transformer_lens {transformer_lens.__version__ if hasattr(transformer_lens, '__version__') else '?'}")
