"""Data shared by chapter 0's sections: scikit-learn's bundled 8x8 digits as tensors.

One fixed, stratified train/test split for every section, so accuracies quoted in 0.2 and 0.4
(and the benchmarks) are measured on the same 360 held-out images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as t

TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class Digits:
    """Images are (n, 1, 8, 8) float32 in [0, 1]; labels are (n,) int64 in 0..9."""

    x_train: t.Tensor
    y_train: t.Tensor
    x_test: t.Tensor
    y_test: t.Tensor


def digits() -> Digits:
    """The 1,797 digits (no download: the data ship with scikit-learn), split 1,437 / 360."""
    # Imported here: scikit-learn takes longer to import than torch, and `arena check` for a
    # chapter-0 exercise imports this module without ever needing the data.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    raw = load_digits()
    x = t.tensor(raw.images, dtype=t.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
    y = t.tensor(raw.target, dtype=t.int64)
    idx_train, idx_test = train_test_split(
        t.arange(len(y)).numpy(), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y.numpy()
    )
    return Digits(x[idx_train], y[idx_train], x[idx_test], y[idx_test])


def batches(n: int, batch_size: int, generator: t.Generator | None = None) -> list[t.Tensor]:
    """Index tensors covering range(n) once, shuffled when a generator is given."""
    order = t.randperm(n, generator=generator) if generator is not None else t.arange(n)
    return list(order.split(batch_size))
