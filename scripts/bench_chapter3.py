"""Chapter 3 figures: collectives, data parallelism and kill-and-resume, printed, never asserted.

    python scripts/bench_chapter3.py          # 16 MB all-reduce, 20 blocks of training steps
    python scripts/bench_chapter3.py --quick  # 1 MB, 4 blocks

Goals from the chapter's issue, each printed with its verdict:
  * the reference ring all-reduce (3.2) at world size 2 and 4 within 2x of gloo's all_reduce
    on a 16 MB tensor;
  * data parallelism from scratch (3.3) within 1.2x of DistributedDataParallel per step;
  * a run whose worker is killed mid-training resumes bit-identical (3.5; also a test in
    tests/chapter3/test_ch3_resume.py).
Notebook minutes against each manifest are timed by `scripts/bench.py --only notebooks`.
Every rank runs one thread, as on the 2-core CPU the curriculum targets. Exits 0 whatever the
figures: a slow shared machine is not a failure.
"""

from __future__ import annotations

import argparse
import time

import torch

from exercises.ch3_scale.models import MLP, MLPConfig
from exercises.ch3_scale.s2_collectives import solutions as collectives
from exercises.ch3_scale.s3_data_parallel import solutions as data_parallel
from exercises.ch3_scale.s5_multinode import solutions as multinode
from exercises.ch3_scale.s5_multinode.tests import resume_scenario
from exercises.ch3_scale.timing import collective_seconds, step_seconds_against_ddp


def verdict(ratio: float, goal: float) -> str:
    return f"{'meets' if ratio <= goal else 'MISSES'} the {goal}x goal"


def bench_all_reduce(numel: int, repeats: int) -> None:
    print(f"\n--- ring all-reduce vs gloo all_reduce, {numel * 4 / 2**20:.0f} MB float32, median of {repeats} ---")
    for world in (2, 4):
        ours = collective_seconds(collectives.ring_all_reduce, world, numel, repeats)
        gloo = collective_seconds(None, world, numel, repeats)
        print(
            f"world {world}: ring {ours * 1e3:8.1f} ms   gloo {gloo * 1e3:8.1f} ms   ratio {ours / gloo:5.2f}  "
            f"{verdict(ours / gloo, 2.0)}",
            flush=True,
        )


def bench_data_parallel(blocks: int) -> None:
    cfg = MLPConfig(d_in=256, d_hidden=1024, d_out=256, n_layers=4)
    # 1 MB buckets for both. With DDP's default 25 MB, this 10 MB model would be one bucket for
    # ours (no overlap) while DDP quietly makes its first bucket 1 MB and overlaps it.
    cap = 2**18
    params = sum(p.numel() for p in MLP(cfg).parameters())
    print(
        f"\n--- data-parallel training step, MLP of {params / 1e6:.1f} M parameters, batch 32 per rank, 1 MB buckets, "
        f"median of {blocks} alternating blocks of 5 steps ---"
    )
    for world in (2,):
        ours, ddp = step_seconds_against_ddp(
            world, MLP, cfg, data_parallel.OverlappingDataParallel, data_parallel.data_parallel_step, cap, blocks
        )
        print(
            f"world {world}: from scratch {ours * 1e3:7.1f} ms/step   DDP {ddp * 1e3:7.1f} ms/step   ratio {ours / ddp:5.2f}  "
            f"{verdict(ours / ddp, 1.2)}",
            flush=True,
        )


def bench_resume() -> None:
    print("\n--- kill-and-resume (world 2, last rank SIGKILLed at step 8 of 12) ---")
    start = time.perf_counter()
    clean, resumed, left = resume_scenario(multinode.train_resumable)
    same = all(torch.equal(clean[k], resumed[k]) for k in clean)
    gap = max(float((clean[k] - resumed[k]).abs().max()) for k in clean)
    print(f"files after the kill: {left}")
    print(
        f"bit-identical: {same} (largest gap {gap:.3g}), three runs in {time.perf_counter() - start:.1f} s", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller tensors, fewer steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench_all_reduce(numel=2**18 if args.quick else 2**22, repeats=3 if args.quick else 5)
    bench_data_parallel(blocks=4 if args.quick else 20)
    bench_resume()


if __name__ == "__main__":
    main()
