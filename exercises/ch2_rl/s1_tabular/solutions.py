"""Reference solutions for section 2.1, Bandits and tabular RL.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


from typing import Any

import gymnasium as gym
import numpy as np

from exercises.framework.config import pick


# Exercise 2.1.1: A bandit environment
class MultiArmedBandit(gym.Env[int, int]):
    """k arms with Gaussian rewards N(q*(a), 1); q* ~ N(0, 1) is redrawn at every reset."""

    def __init__(self, num_arms: int = 10) -> None:
        self.num_arms = num_arms
        self.observation_space = gym.spaces.Discrete(1)
        self.action_space = gym.spaces.Discrete(num_arms)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.arm_means = self.np_random.normal(0.0, 1.0, self.num_arms)
        return 0, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        reward = float(self.np_random.normal(self.arm_means[action], 1.0))
        regret = float(self.arm_means.max() - self.arm_means[action])
        return 0, reward, False, False, {"regret": regret}


# Exercise 2.1.2: Incremental sample averages
def update_sample_average(q: np.ndarray, counts: np.ndarray, action: int, reward: float) -> None:
    """In place: count one more pull of `action` and fold `reward` into its running mean."""
    counts[action] += 1
    q[action] += (reward - q[action]) / counts[action]


# Exercise 2.1.3: Epsilon-greedy with random tie-breaking
def epsilon_greedy(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """A random arm with probability epsilon, else a uniformly random arm among those with the highest q."""
    if rng.random() < epsilon:
        return int(rng.integers(len(q)))
    return int(rng.choice(np.flatnonzero(q == q.max())))


# Exercise 2.1.4: Upper confidence bound action selection
def ucb_action(q: np.ndarray, counts: np.ndarray, t: int, c: float) -> int:
    """The UCB arm after `t` pulls in total; untried arms first, lowest index first."""
    if (counts == 0).any():
        return int(np.flatnonzero(counts == 0)[0])
    return int(np.argmax(q + c * np.sqrt(np.log(t) / counts)))


# Exercise 2.1.5: The gradient bandit update
def gradient_bandit_update(h: np.ndarray, action: int, reward: float, baseline: float, alpha: float) -> np.ndarray:
    """The new preferences after pulling `action` (returns a new array; `h` is unchanged)."""
    pi = np.exp(h - h.max())
    pi /= pi.sum()
    return h + alpha * (reward - baseline) * (np.eye(len(h))[action] - pi)


def run_bandit(agent: str, runs: int, steps: int, seed: int = 0, num_arms: int = 10) -> np.ndarray:
    """(steps,) regret per step averaged over `runs` fresh bandits, for agent 'eps', 'ucb' or 'gradient'."""
    rng = np.random.default_rng(seed)
    regret = np.zeros(steps)
    env = MultiArmedBandit(num_arms)
    for run in range(runs):
        env.reset(seed=seed * 100_000 + run)
        q, counts, h, mean_reward = np.zeros(num_arms), np.zeros(num_arms), np.zeros(num_arms), 0.0
        for step in range(steps):
            if agent == "eps":
                action = epsilon_greedy(q, 0.1, rng)
            elif agent == "ucb":
                action = ucb_action(q, counts, step + 1, 2.0)
            else:
                pi = np.exp(h - h.max())
                action = int(rng.choice(num_arms, p=pi / pi.sum()))
            _, reward, _, _, info = env.step(action)
            update_sample_average(q, counts, action, reward)
            if agent == "gradient":
                h = gradient_bandit_update(h, action, reward, mean_reward, 0.1)
                mean_reward += (reward - mean_reward) / (step + 1)
            regret[step] += info["regret"]
    return regret / runs


# Exercise 2.1.6: Iterative policy evaluation
def policy_evaluation(P: np.ndarray, R: np.ndarray, policy: np.ndarray, gamma: float, tol: float = 1e-8) -> np.ndarray:
    """P: (S, A, S), R: (S, A), policy: (S, A) probabilities -> V: (S,), to within tol."""
    v = np.zeros(P.shape[0])
    while True:
        new_v = (policy * (R + gamma * P @ v)).sum(axis=1)
        if np.abs(new_v - v).max() < tol:
            return new_v
        v = new_v


# Exercise 2.1.7: Greedy policy improvement
def policy_improvement(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """-> (S,) int: in each state, an action maximising R(s, a) + gamma * sum_s' P(s'|s,a) V(s')."""
    return np.argmax(R + gamma * P @ V, axis=1)


# Exercise 2.1.8: Policy iteration
def policy_iteration(P: np.ndarray, R: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """-> (optimal deterministic policy (S,) int, its value V (S,))."""
    num_actions = P.shape[1]
    actions = np.zeros(P.shape[0], dtype=int)
    while True:
        v = policy_evaluation(P, R, np.eye(num_actions)[actions], gamma)
        improved = policy_improvement(P, R, v, gamma)
        if np.array_equal(improved, actions):
            return actions, v
        actions = improved


# Exercise 2.1.9: Value iteration
def value_iteration(P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """-> (V* (S,) to within tol, a greedy policy (S,) int)."""
    v = np.zeros(P.shape[0])
    while True:
        new_v = (R + gamma * P @ v).max(axis=1)
        if np.abs(new_v - v).max() < tol:
            return new_v, policy_improvement(P, R, new_v, gamma)
        v = new_v


def model_arrays(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    """(P, R) from a toy-text environment's model; terminal transitions are left out of P."""
    model = env.unwrapped.P
    num_states, num_actions = len(model), len(model[0])
    P, R = np.zeros((num_states, num_actions, num_states)), np.zeros((num_states, num_actions))
    for s in range(num_states):
        for a in range(num_actions):
            for prob, next_state, reward, terminated in model[s][a]:
                R[s, a] += prob * reward
                if not terminated:
                    P[s, a, next_state] += prob
    return P, R


# Exercise 2.1.10: The Q-learning update
def q_learning_update(
    Q: np.ndarray, state: int, action: int, reward: float, next_state: int, terminated: bool, alpha: float, gamma: float
) -> None:
    """In place: move Q[state, action] a fraction alpha towards the Q-learning target."""
    target = reward + gamma * Q[next_state].max() * (not terminated)
    Q[state, action] += alpha * (target - Q[state, action])


# Exercise 2.1.11: The SARSA update
def sarsa_update(
    Q: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    next_action: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> None:
    """In place: move Q[state, action] a fraction alpha towards the SARSA target."""
    target = reward + gamma * Q[next_state, next_action] * (not terminated)
    Q[state, action] += alpha * (target - Q[state, action])


def td_control(env: gym.Env, method: str, episodes: int, alpha: float, epsilon: float, gamma: float, seed: int) -> tuple[np.ndarray, list[float]]:
    """Train an epsilon-greedy tabular agent with 'q' (Q-learning) or 'sarsa'; -> (Q, return of each episode)."""
    rng = np.random.default_rng(seed)
    Q = np.zeros((env.observation_space.n, env.action_space.n))
    returns = []
    for episode in range(episodes):
        state, _ = env.reset(seed=seed + episode)
        action = epsilon_greedy(Q[state], epsilon, rng)
        total, done = 0.0, False
        while not done:
            next_state, reward, terminated, truncated, _ = env.step(action)
            next_action = epsilon_greedy(Q[next_state], epsilon, rng)
            if method == "q":
                q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma)
            else:
                sarsa_update(Q, state, action, reward, next_state, next_action, terminated, alpha, gamma)
            state, action, total, done = next_state, next_action, total + reward, terminated or truncated
        returns.append(total)
    return Q, returns


def greedy_path(env: gym.Env, Q: np.ndarray, max_steps: int = 100) -> list[int]:
    """The states visited by the greedy policy from the start (stops at the goal or after max_steps)."""
    state, _ = env.reset(seed=0)
    path = [state]
    for _ in range(max_steps):
        state, _, terminated, truncated, _ = env.step(int(np.argmax(Q[state])))
        path.append(state)
        if terminated or truncated:
            break
    return path
