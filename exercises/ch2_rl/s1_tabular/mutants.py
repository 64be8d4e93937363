"""Plausible wrong answers for section 2.1; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import numpy as np

from exercises.ch2_rl.s1_tabular import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("MultiArmedBandit", "draws arm means from the global NumPy RNG, ignoring the seed")
class BanditIgnoresSeed(ref.MultiArmedBandit):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.arm_means = np.random.normal(0.0, 1.0, self.num_arms)
        return 0, {}


@mutant("MultiArmedBandit", "rewards have standard deviation 0 (returns the mean)")
class BanditNoNoise(ref.MultiArmedBandit):
    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float(self.arm_means[action]), terminated, truncated, info


@mutant("MultiArmedBandit", "regret measured against the worst arm")
class BanditWrongRegret(ref.MultiArmedBandit):
    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {"regret": float(self.arm_means[action] - self.arm_means.min())}


@mutant("update_sample_average", "divides by the count before incrementing it (off by one)")
def average_off_by_one(q, counts, action, reward):
    q[action] += (reward - q[action]) / (counts[action] + 1 if counts[action] == 0 else counts[action])
    counts[action] += 1


@mutant("update_sample_average", "constant step size 0.1 instead of 1/N")
def average_constant_step(q, counts, action, reward):
    counts[action] += 1
    q[action] += 0.1 * (reward - q[action])


@mutant("epsilon_greedy", "ties always go to the lowest index")
def greedy_argmax_ties(q, epsilon, rng):
    return int(rng.integers(len(q))) if rng.random() < epsilon else int(np.argmax(q))


@mutant("epsilon_greedy", "explores with probability 1 - epsilon")
def greedy_inverted(q, epsilon, rng):
    return ref.epsilon_greedy(q, 1 - epsilon, rng)


@mutant("ucb_action", "no square root on the bonus")
def ucb_no_sqrt(q, counts, t, c):
    if (counts == 0).any():
        return int(np.flatnonzero(counts == 0)[0])
    return int(np.argmax(q + c * np.log(t) / counts))


@mutant("ucb_action", "tries untried arms only after the bonus says so (divides by zero)")
def ucb_untried_last(q, counts, t, c):
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = q + c * np.sqrt(np.log(max(t, 1)) / counts)
    return int(np.argmax(np.nan_to_num(scores, nan=-np.inf, posinf=-np.inf)))


@mutant("gradient_bandit_update", "no baseline")
def gradient_no_baseline(h, action, reward, baseline, alpha):
    return ref.gradient_bandit_update(h, action, reward, 0.0, alpha)


@mutant("gradient_bandit_update", "updates h in place", kind=SIDE_EFFECT)
def gradient_in_place(h, action, reward, baseline, alpha):
    h += ref.gradient_bandit_update(h, action, reward, baseline, alpha) - h
    return h


@mutant("policy_evaluation", "a single sweep")
def evaluation_one_sweep(P, R, policy, gamma, tol=1e-8):
    v = (policy * R).sum(1)
    return (policy * (R + gamma * P @ v)).sum(1)


@mutant("policy_evaluation", "takes the max over actions")
def evaluation_max(P, R, policy, gamma, tol=1e-8):
    return ref.value_iteration(P, R, gamma, tol)[0]


@mutant("policy_improvement", "greedy on the immediate reward only")
def improvement_myopic(P, R, V, gamma):
    return np.argmax(R, axis=1)


@mutant("policy_iteration", "stops after one improvement")
def iteration_one_step(P, R, gamma):
    actions = np.zeros(P.shape[0], dtype=int)
    v = ref.policy_evaluation(P, R, np.eye(P.shape[1])[actions], gamma)
    improved = ref.policy_improvement(P, R, v, gamma)
    return improved, ref.policy_evaluation(P, R, np.eye(P.shape[1])[improved], gamma)


@mutant("value_iteration", "averages over actions instead of the max")
def value_iteration_mean(P, R, gamma, tol=1e-8):
    a = P.shape[1]
    v = ref.policy_evaluation(P, R, np.full((P.shape[0], a), 1 / a), gamma, tol)
    return v, ref.policy_improvement(P, R, v, gamma)


@mutant("value_iteration", "stops after a fixed 10 sweeps")
def value_iteration_ten_sweeps(P, R, gamma, tol=1e-8):
    v = np.zeros(P.shape[0])
    for _ in range(10):
        v = (R + gamma * P @ v).max(axis=1)
    return v, ref.policy_improvement(P, R, v, gamma)


@mutant("q_learning_update", "bootstraps from terminal states")
def q_no_terminal_mask(Q, state, action, reward, next_state, terminated, alpha, gamma):
    ref.q_learning_update(Q, state, action, reward, next_state, False, alpha, gamma)


@mutant("q_learning_update", "replaces Q[s, a] by the target (alpha ignored)")
def q_no_alpha(Q, state, action, reward, next_state, terminated, alpha, gamma):
    ref.q_learning_update(Q, state, action, reward, next_state, terminated, 1.0, gamma)


@mutant("sarsa_update", "uses the max over next actions (Q-learning)")
def sarsa_uses_max(Q, state, action, reward, next_state, next_action, terminated, alpha, gamma):
    ref.q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma)


@mutant("sarsa_update", "bootstraps from terminal states")
def sarsa_no_terminal_mask(Q, state, action, reward, next_state, next_action, terminated, alpha, gamma):
    ref.sarsa_update(Q, state, action, reward, next_state, next_action, False, alpha, gamma)


@mutant("ucb_action", "clamps the caller's zero counts to 1e-12 in place to avoid dividing by zero", kind=SIDE_EFFECT)
def ucb_clamps_counts(q, counts, t, c):
    untried = np.flatnonzero(counts == 0)
    np.maximum(counts, 1e-12, out=counts)
    if len(untried):
        return int(untried[0])
    return int(np.argmax(q + c * np.sqrt(np.log(t) / counts)))


@mutant("value_iteration", "pre-scales the caller's P by gamma in place", kind=SIDE_EFFECT)
def value_iteration_scales_p(P, R, gamma, tol=1e-8):
    P *= gamma
    v = np.zeros(P.shape[0])
    while True:
        new_v = (R + P @ v).max(axis=1)
        if np.abs(new_v - v).max() < tol:
            return new_v, np.argmax(R + P @ new_v, axis=1)
        v = new_v


@mutant(
    "q_learning_update", "moves towards r first, then adds the bootstrap read from the updated Q", kind=DOMAIN_CORNER
)
def q_two_steps(Q, state, action, reward, next_state, terminated, alpha, gamma):
    Q[state, action] += alpha * (reward - Q[state, action])
    Q[state, action] += alpha * gamma * Q[next_state].max() * (not terminated)


@mutant("sarsa_update", "shrinks Q[s, a] by (1 - alpha) before reading Q[s', a']", kind=DOMAIN_CORNER)
def sarsa_two_steps(Q, state, action, reward, next_state, next_action, terminated, alpha, gamma):
    Q[state, action] *= 1 - alpha
    Q[state, action] += alpha * (reward + gamma * Q[next_state, next_action] * (not terminated))


@mutant("gradient_bandit_update", "softmax without subtracting the max (overflows for large h)", kind=DOMAIN_CORNER)
def gradient_naive_softmax(h, action, reward, baseline, alpha):
    with np.errstate(over="ignore", invalid="ignore"):
        pi = np.exp(h) / np.exp(h).sum()
    return h + alpha * (reward - baseline) * (np.eye(len(h))[action] - pi)


@mutant(
    "value_iteration", "a fixed 300 sweeps: enough for gamma <= 0.95 with termination, not for 0.99", kind=DOMAIN_CORNER
)
def value_iteration_300_sweeps(P, R, gamma, tol=1e-8):
    v = np.zeros(P.shape[0])
    for _ in range(300):
        v = (R + gamma * P @ v).max(axis=1)
    return v, ref.policy_improvement(P, R, v, gamma)


@mutant(
    "policy_evaluation",
    "a fixed 300 sweeps: enough for gamma <= 0.95 with termination, not for 0.99",
    kind=DOMAIN_CORNER,
)
def evaluation_300_sweeps(P, R, policy, gamma, tol=1e-8):
    v = np.zeros(P.shape[0])
    for _ in range(300):
        v = (policy * (R + gamma * P @ v)).sum(axis=1)
    return v


@mutant("ucb_action", "UCB1's bonus c * sqrt(2 ln t / N): the statement's has no 2", kind=HIDDEN_TERM)
def ucb_two_log(q, counts, t, c):
    if (counts == 0).any():
        return int(np.flatnonzero(counts == 0)[0])
    return int(np.argmax(q + c * np.sqrt(2 * np.log(t) / counts)))


@mutant(
    "update_sample_average",
    "weighs the old mean as if it were one reward: (q + r) / 2 after a first pull",
    kind=HIDDEN_TERM,
)
def average_pairwise(q, counts, action, reward):
    counts[action] += 1
    q[action] = reward if counts[action] == 1 else (q[action] + reward) / 2


@mutant("MultiArmedBandit", "regret from the first arm's mean instead of the best arm's", kind=HIDDEN_TERM)
class BanditRegretFromArm0(ref.MultiArmedBandit):
    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {"regret": float(self.arm_means[0] - self.arm_means[action])}
