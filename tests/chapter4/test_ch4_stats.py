"""The chapter's interval helpers, against closed forms and the cases that break naive ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exercises.ch4_evals_oversight import stats


def test_mean_se_uses_the_sample_standard_deviation() -> None:
    mean, se = stats.mean_se([0.0, 1.0, 1.0, 1.0])
    assert mean == 0.75
    assert se == pytest.approx(0.5 / 2)  # sd(ddof=1) = 0.5, sqrt(4) = 2


def test_wilson_stays_inside_the_unit_interval_and_is_not_a_point_at_100_percent() -> None:
    every = stats.wilson(20, 20)
    assert every.value == 1.0 and every.high == 1.0
    assert 0.8 < every.low < 0.9  # 20/20 is consistent with a true rate of about 0.84
    none = stats.wilson(0, 20)
    assert none.low == 0.0 and 0.1 < none.high < 0.2
    half = stats.wilson(50, 100)
    assert half.low == pytest.approx(0.5 - 0.0971, abs=1e-3) and half.high == pytest.approx(0.5 + 0.0971, abs=1e-3)


@pytest.mark.parametrize("n", [1, 3, 7, 12, 20, 58, 99, 150, 1000])
def test_wilson_contains_its_estimate_at_the_ends(n: int) -> None:
    """At 0 of n the float lower bound came out near 1e-17, above the estimate 0: an error bar of
    negative length, which matplotlib refuses (4.4's page broke on it)."""
    for successes in (0, 1, n - 1, n):
        e = stats.wilson(max(0, min(n, successes)), n)
        assert e.low <= e.value <= e.high, (successes, n, e)


def test_bootstrap_of_the_mean_agrees_with_the_normal_interval() -> None:
    values = np.random.default_rng(1).binomial(1, 0.6, size=400).astype(float)
    boot, normal = stats.bootstrap(values), stats.mean_ci(values)
    assert boot.value == normal.value
    assert boot.low == pytest.approx(normal.low, abs=0.01) and boot.high == pytest.approx(normal.high, abs=0.01)
    assert stats.bootstrap(values, seed=3) == stats.bootstrap(values, seed=3)


def test_paired_interval_is_narrower_when_samples_share_their_difficulty() -> None:
    difficulty = np.random.default_rng(2).normal(size=200)
    a, b = difficulty + 0.1, difficulty
    paired = stats.paired_difference(a, b)
    assert paired.value == pytest.approx(0.1)
    assert paired.high - paired.low < 1e-9  # the shared term cancels exactly
    separate = math.hypot(stats.mean_se(a)[1], stats.mean_se(b)[1])
    assert separate > 0.05


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]]])
def test_bad_input_is_named(bad: list) -> None:
    with pytest.raises(ValueError, match="1-D sequence"):
        stats.mean_se(bad)
