"""Reference solutions for section 2.2, Deep Q-learning.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch as t
from torch import Tensor, nn

from exercises.ch2_rl.common import EpisodeLog, first_obs, make_vec_env, seed_everything
from exercises.ch2_rl.probes import PROBES, Probe, expected_q, probe_observations
from exercises.framework.config import pick


# Exercise 2.2.1: A Q-network
class QNetwork(nn.Module):
    """(batch, obs_dim) -> (batch, num_actions) Q-values."""

    def __init__(self, obs_dim: int, num_actions: int, hidden: tuple[int, int] = (120, 84)) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden[0]), nn.ReLU(), nn.Linear(hidden[0], hidden[1]), nn.ReLU(), nn.Linear(hidden[1], num_actions)
        )

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs)


# Exercise 2.2.2: The epsilon schedule
def linear_schedule(step: int, start_e: float, end_e: float, duration: int) -> float:
    """Linear from `start_e` at step 0 to `end_e` at step `duration`, then constant."""
    return start_e + (end_e - start_e) * min(step / duration, 1.0)


# Exercise 2.2.3: Epsilon-greedy actions for a batch of environments
def epsilon_greedy_actions(
    q_network: nn.Module, obs: np.ndarray, epsilon: float, num_actions: int, rng: np.random.Generator
) -> np.ndarray:
    """obs: (n, obs_dim) -> (n,) int actions, each random with probability epsilon, else greedy."""
    with t.no_grad():
        greedy = q_network(t.as_tensor(obs, dtype=t.float32)).argmax(-1).numpy()
    n = len(obs)
    explore = rng.random(n) < epsilon
    return np.where(explore, rng.integers(0, num_actions, n), greedy)


class ReplaySamples(NamedTuple):
    """A training batch: obs and next_obs (B, obs_dim) float, actions (B,) long, rewards and terminated (B,) float."""

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    next_obs: Tensor
    terminated: Tensor


# Exercise 2.2.4: A ring-buffer replay memory
class ReplayBuffer:
    """Fixed-capacity memory of transitions; the oldest is overwritten when full."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], seed: int) -> None:
        self.capacity, self.pos, self.size = capacity, 0, 0
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray) -> None:
        """Store k transitions: obs and next_obs (k, *obs_shape), the others (k,)."""
        for i in range(len(obs)):
            self.obs[self.pos], self.next_obs[self.pos] = obs[i], next_obs[i]
            self.actions[self.pos], self.rewards[self.pos], self.terminated[self.pos] = actions[i], rewards[i], terminated[i]
            self.pos = (self.pos + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> ReplaySamples:
        """`batch_size` transitions drawn uniformly, with replacement, from those stored."""
        idx = self.rng.integers(0, self.size, batch_size)
        return ReplaySamples(
            t.as_tensor(self.obs[idx]),
            t.as_tensor(self.actions[idx]),
            t.as_tensor(self.rewards[idx]),
            t.as_tensor(self.next_obs[idx]),
            t.as_tensor(self.terminated[idx]),
        )


# Exercise 2.2.5: Store a vector step, minus the autoreset transitions
def store_step(
    buffer: ReplayBuffer,
    obs: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_obs: np.ndarray,
    terminated: np.ndarray,
    prev_done: np.ndarray,
) -> None:
    """Add one vector-env step to `buffer`, skipping environments that were autoresetting (prev_done)."""
    keep = ~prev_done
    buffer.add(obs[keep], actions[keep], rewards[keep], next_obs[keep], terminated[keep])


# Exercise 2.2.6: TD targets
def td_targets(rewards: Tensor, next_q_target: Tensor, terminated: Tensor, gamma: float) -> Tensor:
    """rewards, terminated: (B,); next_q_target: (B, num_actions) -> (B,) targets y."""
    return rewards + gamma * next_q_target.max(dim=-1).values * (1 - terminated.float())


# Exercise 2.2.7: The DQN loss
def dqn_loss(q_network: nn.Module, target_network: nn.Module, batch: ReplaySamples, gamma: float) -> Tensor:
    """Scalar: mean squared TD error of Q(s, a) against targets from `target_network`."""
    with t.no_grad():
        targets = td_targets(batch.rewards, target_network(batch.next_obs), batch.terminated, gamma)
    q_taken = q_network(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    return ((q_taken - targets) ** 2).mean()


# Exercise 2.2.8: Target network update
def update_target(target: nn.Module, online: nn.Module, tau: float) -> None:
    """In place: every target parameter moves a fraction tau of the way to the online one."""
    with t.no_grad():
        for target_param, online_param in zip(target.parameters(), online.parameters()):
            target_param.copy_(tau * online_param + (1.0 - tau) * target_param)


@dataclass(frozen=True)
class DQNArgs:
    """Hyperparameters for CartPole-v1; "Choosing the hyperparameters" below gives the reason for each.

    Change one with `DQNArgs(gamma=0.95)` or `replace(args, gamma=0.95)` (from dataclasses).
    """

    env_id: str = "CartPole-v1"  # a Gymnasium id with a flat Box observation and Discrete actions
    seed: int = 1  # seeds torch, NumPy, the environments and the replay buffer's sampling
    total_timesteps: int = pick(smoke=3_000, default=100_000, full=200_000)  # environment steps, all envs together
    stop_at_return: float | None = None  # stop once the mean of the last 20 returns reaches this; None runs the budget
    num_envs: int = 4  # environments stepped together: one forward pass picks 4 actions
    learning_rate: float = 5e-4  # Adam's step size
    buffer_size: int = 50_000  # transitions remembered: about 100 full-length episodes
    gamma: float = 0.99  # discount: rewards count over a horizon of about 1 / (1 - gamma) = 100 steps
    tau: float = 1.0  # target update: 1 copies the online network, less mixes it in
    target_network_frequency: int = 250  # environment steps between target updates
    batch_size: int = 128  # transitions per gradient step
    start_e: float = 1.0  # epsilon at the first step: all actions random
    end_e: float = 0.01  # epsilon's floor
    exploration_fraction: float = 0.1  # epsilon reaches end_e after this fraction of total_timesteps
    learning_starts: int = pick(smoke=500, default=1_000, full=1_000)  # random steps stored before the first update
    train_frequency: int = 4  # environment steps per gradient step
    max_grad_norm: float = 10.0  # rescale each gradient to at most this global norm


class DQNResult(NamedTuple):
    q_network: QNetwork
    log: EpisodeLog
    global_step: int
    seconds: float

    @property
    def sps(self) -> float:
        return self.global_step / self.seconds


def train_dqn(args: DQNArgs, env: str | Callable[[], gym.Env] | None = None, print_every: int = 0) -> DQNResult:
    """Train on `env` (default `args.env_id`) for `args.total_timesteps` environment steps, or until the
    mean of the last 20 returns reaches `args.stop_at_return`; prints a line every `print_every` steps."""
    seed_everything(args.seed)
    envs = make_vec_env(env or args.env_id, args.num_envs, args.seed)
    obs_shape, num_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)
    q_network, target_network = QNetwork(obs_shape[0], num_actions), QNetwork(obs_shape[0], num_actions)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = t.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    buffer = ReplayBuffer(args.buffer_size, obs_shape, args.seed)
    rng = np.random.default_rng(args.seed)
    log = EpisodeLog()
    obs, prev_done = first_obs(envs), np.zeros(args.num_envs, dtype=bool)
    exploration_steps = int(args.exploration_fraction * args.total_timesteps)
    global_step, start = 0, time.perf_counter()
    while global_step < args.total_timesteps:
        epsilon = linear_schedule(global_step, args.start_e, args.end_e, exploration_steps)
        actions = epsilon_greedy_actions(q_network, obs, epsilon, num_actions, rng)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        previous_step, global_step = global_step, global_step + args.num_envs
        log.record(infos, global_step)
        store_step(buffer, obs, actions, rewards, next_obs, terminated, prev_done)
        obs, prev_done = next_obs, terminated | truncated

        if global_step > args.learning_starts:
            # One gradient step per `train_frequency` environment steps, however many envs just stepped.
            for _ in range(global_step // args.train_frequency - previous_step // args.train_frequency):
                loss = dqn_loss(q_network, target_network, buffer.sample(args.batch_size), args.gamma)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm)
                optimizer.step()
            if global_step // args.target_network_frequency > previous_step // args.target_network_frequency:
                update_target(target_network, q_network, args.tau)

        if print_every and global_step // print_every > previous_step // print_every:
            sps = global_step / (time.perf_counter() - start)
            print(f"step {global_step:>7}  epsilon {epsilon:.3f}  mean return (last 20) {log.mean_last(20):6.1f}  SPS {sps:,.0f}")
        if args.stop_at_return is not None and log.first_step_reaching(args.stop_at_return) is not None:
            break
    envs.close()
    return DQNResult(q_network, log, global_step, time.perf_counter() - start)
