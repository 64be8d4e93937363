"""Sections 2.1 and 2.4 beyond the learner tests: the demos' claims hold for the reference code."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as t
from gymnasium.utils.env_checker import check_env

from exercises.ch2_rl.probes import PROBES, Probe
from exercises.ch2_rl.s1_tabular import solutions as tab
from exercises.ch2_rl.s4_rlhf import solutions as rlhf


def test_own_environments_pass_the_gymnasium_checker() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(tab.MultiArmedBandit(), skip_render_check=True)
        for index in PROBES:
            check_env(Probe(index), skip_render_check=True)


def test_policy_and_value_iteration_agree_on_frozen_lake() -> None:
    P, R = tab.model_arrays(gym.make("FrozenLake-v1", is_slippery=True))
    _, v_pi = tab.policy_iteration(P, R, 0.99)
    v_vi, _ = tab.value_iteration(P, R, 0.99)
    assert np.abs(v_pi - v_vi).max() < 1e-6
    assert 0.5 < v_pi[0] < 0.6  # the known optimum from the start of the slippery 4x4 lake: about 0.54


def test_ucb_beats_epsilon_greedy_on_the_testbed() -> None:
    eps, ucb = (tab.run_bandit(agent, runs=30, steps=500) for agent in ("eps", "ucb"))
    assert ucb.sum() < eps.sum()


@pytest.mark.slow
def test_q_learning_walks_the_cliff_edge_and_sarsa_does_not() -> None:
    cliff = gym.make("CliffWalking-v1", max_episode_steps=500)
    lengths = {}
    for method in ("q", "sarsa"):
        Q, _ = tab.td_control(cliff, method, 500, alpha=0.5, epsilon=0.1, gamma=1.0, seed=0)
        lengths[method] = len(tab.greedy_path(cliff, Q)) - 1
    assert lengths["q"] == 13  # the optimal path along the edge
    assert lengths["sarsa"] > 13  # a safer detour


def test_preference_pairs_are_labelled_towards_the_rule() -> None:
    t.manual_seed(0)
    model = rlhf.CharLM().requires_grad_(False)
    chosen, rejected = rlhf.preference_pairs(model, 300, 20, seed=0)
    score = lambda tokens: np.array([rlhf.preference_score(rlhf.decode(x[len(rlhf.PROMPT) :])) for x in tokens])  # noqa: E731
    diff = score(chosen) - score(rejected)
    assert (diff > 0).sum() > 3 * (diff < 0).sum()  # noisy raters, but mostly right


def test_rlhf_smoke_runs_and_reports_kl() -> None:
    t.manual_seed(0)
    base = rlhf.CharLM().requires_grad_(False)
    reward_model = rlhf.RewardModel().requires_grad_(False)
    _, history = rlhf.rlhf_train(base, reward_model, rlhf.RLHFArgs(iterations=2, batch=8, length=10))
    assert len(history) == 2 and history[0].kl == pytest.approx(
        0.0, abs=1e-5
    )  # the first batch comes from the reference
    assert all(not p.requires_grad for p in base.parameters())
