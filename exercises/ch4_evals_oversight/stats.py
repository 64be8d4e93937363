"""Uncertainty for eval results: every number chapter 4 reports comes with an interval.

Section 4.1 has learners build these from scratch; the later sections (elicitation, attacks,
backdoors, oversight) call this module so that each claim they print carries a confidence
interval computed the same way. The unit of resampling is always the *sample* (one question,
one prompt, one attack): resampling tokens or repeated generations of the same question would
understate the uncertainty, since the questions are what a different eval would change.

Everything is numpy on float64 with a seeded generator, so an interval never depends on the
machine or its thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the two-sided 95% point of the standard normal


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a 95% interval, printed the way the book pages show results."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"

    def excludes(self, value: float) -> bool:
        return not self.low <= value <= self.high


def _scores(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty 1-D sequence of per-sample scores, got shape {array.shape}")
    return array


def mean_se(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and its standard error, sd(ddof=1) / sqrt(n); 0 for a single sample."""
    array = _scores(values)
    if array.size == 1:
        return float(array[0]), 0.0
    return float(array.mean()), float(array.std(ddof=1) / math.sqrt(array.size))


def mean_ci(values: Sequence[float] | np.ndarray) -> Estimate:
    """Normal-approximation interval for a mean: right for the sample sizes evals use (n >= 30)."""
    mean, se = mean_se(values)
    return Estimate(mean, mean - Z95 * se, mean + Z95 * se, len(values))


def wilson(successes: int, n: int) -> Estimate:
    """Wilson score interval for a proportion: unlike mean ± 1.96·se it stays inside [0, 1] and
    does not collapse to a point when every sample succeeds (a 100% attack success rate on 20
    prompts is not certainty)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    # The interval contains p exactly; in floats centre - half at 0 of n comes out near 1e-17,
    # above p, which turns an error bar negative (matplotlib refuses it).
    return Estimate(p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)), n)


def bootstrap(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap over samples (rows): `values` may be (n,) or (n, k) per-sample records."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("cannot bootstrap an empty set of samples")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(array), size=(resamples, len(array)))
    stats = np.array([statistic(array[r]) for r in rows])
    low, high = np.quantile(stats, [0.025, 0.975])
    return Estimate(float(statistic(array)), float(low), float(high), len(array))


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Estimate:
    """Mean of a - b over the same samples, with the interval of the per-sample differences.

    Two models scored on the same questions share each question's difficulty; differencing
    first removes it, which is why a paired interval is much narrower than two separate ones.
    """
    x, y = _scores(a), _scores(b)
    if x.shape != y.shape:
        raise ValueError(f"paired scores need the same samples: {x.shape} vs {y.shape}")
    return mean_ci(x - y)


def error_bars(estimates: Sequence[Estimate]) -> list[list[float]]:
    """matplotlib's `yerr` for a row of estimates. A percentile bootstrap need not contain its
    point estimate (a skewed statistic), and matplotlib refuses a negative bar: such a side is
    drawn as zero."""
    return [[max(0.0, e.value - e.low) for e in estimates], [max(0.0, e.high - e.value) for e in estimates]]
