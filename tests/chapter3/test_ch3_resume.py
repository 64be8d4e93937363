"""The chapter's promise for 3.5: a run whose worker is killed mid-training resumes and ends with
weights bit-identical to an uninterrupted run (the reference solution, at world size 2)."""

from __future__ import annotations

import torch

from exercises.ch3_scale.s5_multinode import mutants
from exercises.ch3_scale.s5_multinode import solutions as ref
from exercises.ch3_scale.s5_multinode.tests import DIE_AT, resume_scenario


def _differences(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    assert set(a) == set(b)
    return {k: float((a[k] - b[k]).abs().max()) for k in a if not torch.equal(a[k], b[k])}


def test_killed_run_resumes_bit_identical() -> None:
    clean, resumed, left = resume_scenario(ref.train_resumable)
    # The kill happened where intended: step DIE_AT was started by rank 0 but never finished by rank 1.
    assert f"step{DIE_AT}-rank0.pt" in left and f"step{DIE_AT}-rank1.pt" not in left, left
    assert _differences(clean, resumed) == {}


def test_resume_without_rng_state_is_caught() -> None:
    """The comparison can fail: forgetting the RNG state gives different dropout masks after the resume."""
    clean, resumed, _ = resume_scenario(mutants.train_without_rng)
    assert _differences(clean, resumed), "a resume that loses the RNG state still matched: the check is too weak"
