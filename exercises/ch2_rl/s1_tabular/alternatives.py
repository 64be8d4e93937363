"""Right answers for section 2.1 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct implementation for not being the reference."""

from __future__ import annotations

import numpy as np

from exercises.ch2_rl.s1_tabular import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("MultiArmedBandit", "rewards as mean plus standard_normal(), regret computed once per reset")
class BanditStandardNormal(ref.MultiArmedBandit):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.regrets = self.arm_means.max() - self.arm_means
        return obs, info

    def step(self, action):
        reward = float(self.arm_means[action] + self.np_random.standard_normal())
        return 0, reward, False, False, {"regret": float(self.regrets[action])}


@alternative("update_sample_average", "the weighted mean (q N + r) / (N + 1), then the count")
def average_weighted(q, counts, action, reward):
    q[action] = (q[action] * counts[action] + reward) / (counts[action] + 1)
    counts[action] += 1


@alternative("epsilon_greedy", "ties found with np.isclose, exploration with rng.choice over all arms")
def epsilon_greedy_isclose(q, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.choice(len(q)))
    best = [a for a in range(len(q)) if np.isclose(q[a], q.max())]
    return int(best[rng.integers(len(best))])


@alternative("ucb_action", "an infinite score for untried arms, then one argmax")
def ucb_infinite_bonus(q, counts, t, c):
    with np.errstate(divide="ignore"):
        bonus = np.where(counts > 0, c * np.sqrt(np.log(max(t, 1)) / np.maximum(counts, 1)), np.inf)
    return int(np.argmax(q + bonus))


@alternative("gradient_bandit_update", "a loop over arms, the softmax from scipy-style log-sum-exp")
def gradient_loop(h, action, reward, baseline, alpha):
    log_z = h.max() + np.log(np.exp(h - h.max()).sum())
    out = h.copy()
    for b in range(len(h)):
        pi_b = np.exp(h[b] - log_z)
        out[b] += alpha * (reward - baseline) * ((b == action) - pi_b)
    return out


@alternative("policy_evaluation", "the exact linear solve (I - gamma P_pi) V = R_pi")
def evaluation_solve(P, R, policy, gamma, tol=1e-8):
    P_pi = np.einsum("sa,sat->st", policy, P)
    return np.linalg.solve(np.eye(len(R)) - gamma * P_pi, (policy * R).sum(1))


@alternative("policy_evaluation", "in-place (Gauss-Seidel) sweeps, state by state")
def evaluation_in_place(P, R, policy, gamma, tol=1e-8):
    v = np.zeros(P.shape[0])
    while True:
        change = 0.0
        for s in range(len(v)):
            new = float(policy[s] @ (R[s] + gamma * P[s] @ v))
            change, v[s] = max(change, abs(new - v[s])), new
        if change < tol * (1 - gamma):  # the in-place sweep's error bound, so V is as close as the reference's
            return v


@alternative("value_iteration", "loops over states and actions, stopping on the Bellman residual")
def value_iteration_loops(P, R, gamma, tol=1e-8):
    num_states, num_actions = R.shape
    v = np.zeros(num_states)
    while True:
        q = np.array([[R[s, a] + gamma * P[s, a] @ v for a in range(num_actions)] for s in range(num_states)])
        new_v = q.max(1)
        if np.abs(new_v - v).max() < tol:
            return new_v, (R + gamma * P @ new_v).argmax(1)
        v = new_v


@alternative("q_learning_update", "(1 - alpha) Q + alpha target, with the target computed first")
def q_lerp(Q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward if terminated else reward + gamma * np.max(Q[next_state])
    Q[state, action] = (1 - alpha) * Q[state, action] + alpha * target


@alternative("sarsa_update", "(1 - alpha) Q + alpha target, with the target computed first")
def sarsa_lerp(Q, state, action, reward, next_state, next_action, terminated, alpha, gamma):
    target = reward + (0.0 if terminated else gamma * Q[next_state, next_action])
    Q[state, action] = (1 - alpha) * Q[state, action] + alpha * target
