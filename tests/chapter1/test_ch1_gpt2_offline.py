"""The full-config gpt2-small code of sections 1.1-1.4, run offline on a tiny random
"gpt2" in a local hub cache (conftest.py), through the real `from_pretrained` path; and the
message a learner gets at the full config when gpt2 is neither cached nor downloadable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from exercises.ch1_transformers.common import (
    IOI_POS,
    PRETRAINED_DOWNLOADS,
    PRETRAINED_FILES,
    PretrainedUnavailable,
    ioi_batch,
    load_pretrained,
)
from exercises.framework.source import read_section

if TYPE_CHECKING:
    from tests.chapter1.conftest import TinyGPT2

CHAPTER = Path(__file__).parents[2] / "exercises" / "ch1_transformers"
GPT2_SECTIONS = ["s1_transformer_from_scratch", "s2_induction_heads", "s3_circuits_patching", "s4_probing"]
END_OF_TEXT = "<|endoftext|>"
GPT2_SIZE = "about 550 MB"


def test_the_cache_holds_the_files_the_message_names(tiny_gpt2: TinyGPT2) -> None:
    """The stand-in has the real repository's file names, and the loader needs no others."""
    assert sorted(p.name for p in tiny_gpt2.snapshot.iterdir()) == sorted(PRETRAINED_FILES["gpt2"])


@pytest.mark.parametrize("no_processing", [False, True])
def test_from_pretrained_loads_the_tiny_gpt2(tiny_gpt2: TinyGPT2, no_processing: bool) -> None:
    model = load_pretrained("gpt2", no_processing=no_processing, device="cpu")
    assert (model.cfg.n_layers, model.cfg.d_model, model.cfg.n_heads, model.cfg.n_ctx) == (2, 64, 4, 128)
    assert model.cfg.original_architecture == "GPT2LMHeadModel"
    assert model.W_U.dtype == torch.float32
    tokens = model.to_tokens("When Ann and Bob went to the shop")
    assert model.to_string(tokens[0, :1]) == END_OF_TEXT  # BOS prepended, as for the real gpt2
    assert model.to_string(tokens[0, 1:]) == "When Ann and Bob went to the shop"
    # Processing folds LayerNorm into the next weights; without it the LayerNorm weights remain.
    assert ("blocks.0.ln1.w" in model.state_dict()) == no_processing


def test_1_1_demo_transformer_matches_gpt2(tiny_gpt2: TinyGPT2) -> None:
    from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as s11

    reference = load_pretrained("gpt2", no_processing=True, device="cpu")
    cfg = s11.config_of(reference)
    assert (cfg.d_vocab, cfg.n_ctx, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.n_layers) == (
        reference.cfg.d_vocab, 128, 64, 4, 16, 256, 2,
    )  # fmt: skip
    tokens = reference.to_tokens("The cat sat on the mat because it was tired.")
    assert s11.parity_gap(reference, tokens) <= 1e-4


def test_1_1_parity_needs_the_unprocessed_weights(tiny_gpt2: TinyGPT2) -> None:
    """With LayerNorm folded away, the reference has no LayerNorm weights to give DemoTransformer."""
    from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as s11

    folded = load_pretrained("gpt2", device="cpu")
    with pytest.raises(AssertionError, match="does not have"):
        s11.parity_gap(folded, folded.to_tokens("The cat sat."))


def test_1_2_head_score_maps_on_gpt2(tiny_gpt2: TinyGPT2) -> None:
    from exercises.ch1_transformers.s2_induction_heads import solutions as s12

    gpt2 = load_pretrained("gpt2", device="cpu")
    prev, induction = s12.head_score_maps(gpt2)
    for scores in (prev, induction):
        assert scores.shape == (2, 4) and scores.dtype == torch.float32
        assert ((scores >= 0) & (scores <= 1)).all(), "scores are attention probabilities"
    assert not torch.equal(prev, induction)


def test_1_3_head_patching_on_gpt2(tiny_gpt2: TinyGPT2) -> None:
    from exercises.ch1_transformers.s3_circuits_patching import solutions as s13

    gpt2 = load_pretrained("gpt2", device="cpu")
    batch = ioi_batch(64, seed=1)
    kept, io_names, s_names = [], [], []
    for i in range(len(batch.io)):
        words, twin = batch.text(i).split(), batch.text(i, corrupted=True).split()
        io, s = words[IOI_POS["A"] if batch.abba[i] else IOI_POS["B"]], words[IOI_POS["S2"]]
        if not {io, s, twin[IOI_POS["S2"]]} & set(tiny_gpt2.unseen_names) and tiny_gpt2.unseen_place not in words:
            kept.append(i)
            io_names.append(" " + io)
            s_names.append(" " + s)
    assert 0 < len(kept) < len(batch.io)  # the filter has something to keep and something to drop

    g_batch = s13.retokenize_ioi(gpt2, batch)
    assert g_batch.tokens.shape == g_batch.corrupted.shape == (len(kept), 1 + 14)
    assert torch.equal(g_batch.abba, batch.abba[kept])
    assert [gpt2.to_string(t) for t in g_batch.io] == io_names
    assert [gpt2.to_string(t) for t in g_batch.s] == s_names

    head_map, clean, corrupted = s13.head_patching_map(gpt2, g_batch)
    assert head_map.shape == (2, 4)
    assert head_map.dtype == torch.float32
    assert torch.isfinite(head_map).all()
    assert clean != corrupted


def test_1_4_sentiment_probes_and_steering_on_gpt2(tiny_gpt2: TinyGPT2) -> None:
    from exercises.ch1_transformers.s4_probing import solutions as s14

    gpt2 = load_pretrained("gpt2", device="cpu")
    # Padding must not move a sentence's last token: the batch equals one sentence at a time.
    batched = s14.last_token_acts(gpt2, s14.NEGATIVE[:5], 1)
    single = torch.cat([s14.last_token_acts(gpt2, (s,), 1) for s in s14.NEGATIVE[:5]])
    assert batched.shape == (5, 64)
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)

    accuracy, directions = s14.sentiment_probes(gpt2)
    assert accuracy.shape == (3,)
    assert ((accuracy >= 0) & (accuracy <= 1)).all()
    assert directions.shape == (3, 64)

    rows = s14.sentiment_steering(gpt2, directions[1], 1, scales=[0.0, 1.0], n_controls=2, max_new_tokens=4)
    assert rows[0]["alpha"] == 0.0 and float(rows[1]["alpha"]) > 0
    assert rows[0]["direction"] == pytest.approx(rows[0]["random"])  # alpha 0 steers nothing
    assert rows[1]["direction"] != pytest.approx(rows[0]["direction"])
    assert all(str(row["continuation"]).startswith(s14.NEUTRAL[0]) for row in rows)


@pytest.mark.slow
def test_1_1_parity_holds_at_gpt2_small_scale() -> None:
    """gpt2-small's shapes, and logits scaled to its range (about ±150), on random weights: the
    float32 gap between two correct implementations there is about 1e-4 in absolute terms, which is
    why `parity_gap` divides by the logits' scale."""
    from transformer_lens import HookedTransformer

    from exercises.ch1_transformers.s1_transformer_from_scratch import solutions as s11

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = s11.Config(d_vocab=50257, n_ctx=1024, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_layers=12)
    reference = HookedTransformer(cfg.hooked()).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.02 * torch.randn_like(p))
        reference.W_U.mul_(30)
    tokens = torch.randint(0, cfg.d_vocab, (1, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert reference(tokens).abs().max() > 100
    assert s11.parity_gap(reference, tokens) <= 1e-4


@pytest.mark.parametrize("no_processing", [False, True])
def test_offline_without_gpt2_the_message_says_what_to_download(empty_hub: Path, no_processing: bool) -> None:
    with pytest.raises(PretrainedUnavailable) as caught:
        load_pretrained("gpt2", no_processing=no_processing, device="cpu")
    message = str(caught.value)
    for needed in (GPT2_SIZE, "downloads_full", "HF_HUB_OFFLINE is set", str(empty_hub), "hf download gpt2 "):
        assert needed in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None  # no hub traceback chained on


@pytest.mark.parametrize("folder", GPT2_SECTIONS)
def test_manifests_name_the_download_the_message_names(folder: str) -> None:
    downloads = read_section(CHAPTER / folder / "source.md").meta.manifest.downloads_full
    assert GPT2_SIZE in PRETRAINED_DOWNLOADS["gpt2"]
    assert any(GPT2_SIZE in d for d in downloads)
