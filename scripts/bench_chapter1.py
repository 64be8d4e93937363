"""Chapter 1 benchmarks (sections 1.1-1.3 and their organisms): prints figures, always exits 0.

    python scripts/bench_chapter1.py            # parity and speed, organisms, notebooks at default size
    python scripts/bench_chapter1.py --quick    # small parity model, no retraining, notebooks at smoke size
    python scripts/bench_chapter1.py --retrain  # also retrain every organism from its script and seed

Figures:
  * from-scratch model (1.1 solutions) vs TransformerLens on the same random weights: max |Δlogit|
    (goal <= 1e-4) and CPU forward throughput ratio (goal: ours within 1.5x of TransformerLens);
  * each organism's metrics re-evaluated from the committed weights (and, with --retrain,
    reached again by its training script) against its stated criterion;
  * each section's notebook wall time against the minutes its manifest states.
Speed goals live here, never in timed tests: the shared CI machine is too noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformer_lens import HookedTransformer

from exercises.ch1_transformers import organisms
from exercises.ch1_transformers.common import TransformerConfig
from exercises.framework.notebook_timing import left_to_make_bench, time_notebook

SECTIONS = ["1.1", "1.2", "1.3"]


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parity_and_speed(cfg: TransformerConfig, label: str, batch: int, repeats: int) -> None:
    from exercises.ch1_transformers.s1_transformer_from_scratch.solutions import DemoTransformer

    torch.manual_seed(0)
    reference = HookedTransformer(cfg.hooked()).eval()
    ours = DemoTransformer(cfg).eval()
    ours.load_state_dict(reference.state_dict(), strict=False)
    tokens = torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx))
    with torch.no_grad():
        gap = (ours(tokens) - reference(tokens)).abs().max().item()
        t_ours = _median_seconds(lambda: ours(tokens), repeats)
        t_ref = _median_seconds(lambda: reference(tokens), repeats)
    n = tokens.numel()
    verdict = "ok" if gap <= 1e-4 and t_ours <= 1.5 * t_ref else "MISSED"
    print(
        f"[parity] {label}: max |Δlogit| {gap:.2e} (goal <= 1e-4); forward {n / t_ours:,.0f} tok/s ours vs "
        f"{n / t_ref:,.0f} tok/s TransformerLens, ours/TL time {t_ours / t_ref:.2f}x (goal <= 1.5x): {verdict}"
    )


def _layer0_ablation_losses(reached: dict) -> dict[int, float]:
    """Each layer-0 head's single-head mean-ablation loss, from induction_2l's evaluate()."""
    from exercises.ch1_transformers.organisms.induction_2l.train import mean_ablated_key

    losses: dict[int, float] = {}
    while mean_ablated_key(len(losses)) in reached:
        losses[len(losses)] = reached[mean_ablated_key(len(losses))]
    return losses


def _prev_token_head_is_necessary_and_alone(reached: dict) -> bool:
    """The issue's ablation criterion: the previous-token head is necessary, no other layer-0 head is."""
    losses, top = _layer0_ablation_losses(reached), reached["prev_token_head"]
    return losses[top] > 3.0 and all(loss < 1.5 for h, loss in losses.items() if h != top)


def _ablation_figure(reached: dict) -> str:
    losses, top = _layer0_ablation_losses(reached), reached["prev_token_head"]
    heads = ", ".join(f"L0H{h}{' (prev-token)' if h == top else ''} {loss:.2f}" for h, loss in losses.items())
    return (
        f"second-half loss {reached['second_half_loss']:.2f} clean; with one layer-0 head mean-ablated: {heads} "
        f"(ln V = {reached['ln_vocab']:.2f}); {'met' if _prev_token_head_is_necessary_and_alone(reached) else 'NOT MET'}"
    )


def organism_criteria(retrain: bool) -> None:
    from exercises.ch1_transformers.organisms.induction_2l import train as induction
    from exercises.ch1_transformers.organisms.ioi_2l import train as ioi

    checks = {
        "induction_2l": (
            lambda m: induction.evaluate(m, m.cfg.d_vocab),
            lambda r: (
                r["max_induction_score_last_layer"] > 0.5
                and r["second_half_loss"] < 1.0
                and _prev_token_head_is_necessary_and_alone(r)
            ),
            "layer-1 induction score > 0.5 and second-half loss < 1.0 at held-out period 23; "
            "mean-ablating the previous-token head alone: loss > 3.0, any other layer-0 head alone: < 1.5",
            lambda: induction.train(induction.TrainConfig()),
        ),
        "induction_1l_control": (
            lambda m: induction.evaluate(m, m.cfg.d_vocab),
            lambda r: r["second_half_loss"] > 3.5,
            "second-half loss > 3.5 (ln 64 = 4.16) at held-out period 23",
            lambda: induction.train(induction.TrainConfig(n_layers=1)),
        ),
        "ioi_2l": (
            ioi.evaluate,
            lambda r: r["accuracy"] >= 0.95,
            "accuracy >= 0.95 on 1000 fresh prompts",
            lambda: ioi.train(ioi.TrainConfig()),
        ),
    }
    for name, (evaluate, criterion, stated, train) in checks.items():
        start = time.perf_counter()
        reached = evaluate(organisms.load(name))
        recorded = organisms.metrics(name)
        same = all(abs(v - recorded[k]) < 1e-4 for k, v in reached.items())
        shown = {k: round(v, 3) for k, v in reached.items() if isinstance(v, float) and "_L0H" not in k}
        print(
            f"[organism] {name}: {shown}; recorded metrics {'reproduced' if same else 'DIFFER'}; "
            f"{stated}: {'met' if criterion(reached) else 'NOT MET'} ({time.perf_counter() - start:.1f} s)"
        )
        if "prev_token_head" in reached:
            print(f"[ablation] {name}: {_ablation_figure(reached)}")
        if retrain:
            start = time.perf_counter()
            _, again = train()
            print(
                f"[retrain] {name}: { ({k: round(v, 3) for k, v in again.items() if isinstance(v, float)}) }; "
                f"{'met' if criterion(again) else 'NOT MET'} in {time.perf_counter() - start:.0f} s"
            )
            if "prev_token_head" in again:
                print(f"[retrain] {name} ablation: {_ablation_figure(again)}")


def notebook_minutes(size: str) -> None:
    if left_to_make_bench():
        return
    for sid in SECTIONS:
        timing = time_notebook(sid, size, timeout_s=1800)
        status = f"FAILED ({timing.error})" if timing.error else "ran"
        goal = f"manifest {timing.budget_minutes} min" if size == "default" else "smoke goal 0.5 min"
        print(f"[notebook] {sid} at {size}: {status} in {timing.minutes:.2f} min ({goal})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small parity model, notebooks at smoke size")
    parser.add_argument("--retrain", action="store_true", help="retrain every organism from its script (minutes)")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    parity_and_speed(TransformerConfig(), "section 1.1 config (2 layers, d_model 64)", batch=16, repeats=5)
    if not args.quick:
        gpt2_shape = TransformerConfig(
            d_vocab=50257, n_ctx=128, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_layers=12
        )
        parity_and_speed(gpt2_shape, "gpt2-small shape, random weights, 128 tokens", batch=2, repeats=3)
    organism_criteria(retrain=args.retrain)
    notebook_minutes("smoke" if args.quick else "default")


if __name__ == "__main__":
    main()
