"""Right answers for section 2.2 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct implementation for not being the reference."""

from __future__ import annotations

import numpy as np
import torch as t
import torch.nn.functional as F
from torch import nn

from exercises.ch2_rl.s2_dqn import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("QNetwork", "layers as named attributes and F.relu in forward")
class QNetworkAttributes(nn.Module):
    def __init__(self, obs_dim, num_actions, hidden=(120, 84)):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(obs_dim, hidden[0]), nn.Linear(hidden[0], hidden[1])
        self.out = nn.Linear(hidden[1], num_actions)

    def forward(self, obs):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(obs)))))


@alternative("linear_schedule", "np.interp, which holds the end value past the last point")
def schedule_interp(step, start_e, end_e, duration):
    return float(np.interp(step, [0, duration], [start_e, end_e]))


@alternative("epsilon_greedy_actions", "a loop over environments, each with its own coin and random action")
def greedy_loop(q_network, obs, epsilon, num_actions, rng):
    with t.no_grad():
        q = q_network(t.as_tensor(obs, dtype=t.float32))
    actions = np.empty(len(obs), dtype=np.int64)
    for i in range(len(obs)):
        actions[i] = rng.integers(num_actions) if rng.random() < epsilon else int(q[i].argmax())
    return actions


@alternative("ReplayBuffer", "a vectorised add: rows (pos + arange(k)) % capacity, written at once")
class BufferVectorAdd(ref.ReplayBuffer):
    def add(self, obs, actions, rewards, next_obs, terminated):
        k = len(obs)
        if k > self.capacity:  # only the last `capacity` rows survive
            obs, actions, rewards, next_obs, terminated = (
                x[-self.capacity :] for x in (obs, actions, rewards, next_obs, terminated)
            )
            self.pos, k = (self.pos + len(obs) - self.capacity) % self.capacity, self.capacity
        rows = (self.pos + np.arange(k)) % self.capacity
        self.obs[rows], self.next_obs[rows] = obs, next_obs
        self.actions[rows], self.rewards[rows], self.terminated[rows] = actions, rewards, terminated
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)


@alternative("ReplayBuffer", "torch tensors as storage, sampled with a seeded torch.Generator")
class BufferTorch:
    def __init__(self, capacity, obs_shape, seed):
        self.capacity, self.pos, self.size = capacity, 0, 0
        self.obs = t.zeros((capacity, *obs_shape))
        self.next_obs = t.zeros((capacity, *obs_shape))
        self.actions = t.zeros(capacity, dtype=t.int64)
        self.rewards, self.terminated = t.zeros(capacity), t.zeros(capacity)
        self.gen = t.Generator().manual_seed(seed)

    def __len__(self):
        return self.size

    def add(self, obs, actions, rewards, next_obs, terminated):
        for i in range(len(obs)):
            self.obs[self.pos], self.next_obs[self.pos] = t.as_tensor(obs[i]), t.as_tensor(next_obs[i])
            self.actions[self.pos], self.rewards[self.pos] = int(actions[i]), float(rewards[i])
            self.terminated[self.pos] = float(terminated[i])
            self.pos, self.size = (self.pos + 1) % self.capacity, min(self.size + 1, self.capacity)

    def sample(self, batch_size):
        idx = t.randint(0, self.size, (batch_size,), generator=self.gen)
        return ref.ReplaySamples(
            self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx]
        )


@alternative("store_step", "one add per environment whose previous step was real")
def store_each(buffer, obs, actions, rewards, next_obs, terminated, prev_done):
    for i in np.flatnonzero(~prev_done):
        buffer.add(obs[i : i + 1], actions[i : i + 1], rewards[i : i + 1], next_obs[i : i + 1], terminated[i : i + 1])


@alternative("td_targets", "torch.where on the terminal flag")
def targets_where(rewards, next_q_target, terminated, gamma):
    bootstrap = gamma * next_q_target.amax(dim=1)
    return rewards + t.where(terminated.bool(), t.zeros_like(bootstrap), bootstrap)


@alternative("dqn_loss", "F.mse_loss, the targets detached instead of computed under no_grad")
def loss_mse(q_network, target_network, batch, gamma):
    next_q = target_network(batch.next_obs).detach()
    y = batch.rewards + gamma * next_q.max(1).values * (1 - batch.terminated)
    q = q_network(batch.obs)[t.arange(len(batch.actions)), batch.actions]
    return F.mse_loss(q, y)


@alternative("update_target", "Tensor.lerp_ on each target parameter, under no_grad")
def update_lerp(target, online, tau):
    with t.no_grad():
        for p, o in zip(target.parameters(), online.parameters()):
            p.lerp_(o, tau)


@alternative("update_target", "a state dict mixed and loaded (load_state_dict copies into the target's tensors)")
def update_state_dict(target, online, tau):
    online_state = online.state_dict()
    mixed = {k: tau * online_state[k] + (1 - tau) * v for k, v in target.state_dict().items()}
    target.load_state_dict(mixed)
