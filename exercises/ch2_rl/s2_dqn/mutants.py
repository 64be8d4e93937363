"""Plausible wrong answers for section 2.2; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import numpy as np
import torch as t
from torch import nn

from exercises.ch2_rl.s2_dqn import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("QNetwork", "no nonlinearity between the layers")
class QNetworkLinear(ref.QNetwork):
    def __init__(self, obs_dim, num_actions, hidden=(120, 84)):
        super().__init__(obs_dim, num_actions, hidden)
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden[0]), nn.Linear(hidden[0], hidden[1]), nn.Linear(hidden[1], num_actions)
        )


@mutant("linear_schedule", "epsilon schedule off by one")
def schedule_off_by_one(step, start_e, end_e, duration):
    return ref.linear_schedule(step + 1, start_e, end_e, duration)


@mutant("linear_schedule", "never stops decaying at end_e")
def schedule_unclamped(step, start_e, end_e, duration):
    return start_e + (end_e - start_e) * step / duration


@mutant("epsilon_greedy_actions", "one coin for the whole batch")
def greedy_one_coin(q_network, obs, epsilon, num_actions, rng):
    with t.no_grad():
        greedy = q_network(t.as_tensor(obs, dtype=t.float32)).argmax(-1).numpy()
    return rng.integers(0, num_actions, len(obs)) if rng.random() < epsilon else greedy


@mutant("epsilon_greedy_actions", "a random action is never the greedy one")
def greedy_excluded(q_network, obs, epsilon, num_actions, rng):
    with t.no_grad():
        greedy = q_network(t.as_tensor(obs, dtype=t.float32)).argmax(-1).numpy()
    other = (greedy + rng.integers(1, num_actions, len(obs))) % num_actions
    return np.where(rng.random(len(obs)) < epsilon, other, greedy)


@mutant("epsilon_greedy_actions", "explores with probability 1 - epsilon")
def greedy_inverted(q_network, obs, epsilon, num_actions, rng):
    return ref.epsilon_greedy_actions(q_network, obs, 1 - epsilon, num_actions, rng)


@mutant("ReplayBuffer", "stops storing once full instead of overwriting the oldest")
class BufferStopsWhenFull(ref.ReplayBuffer):
    def add(self, obs, actions, rewards, next_obs, terminated):
        room = self.capacity - self.size
        if room > 0:
            super().add(obs[:room], actions[:room], rewards[:room], next_obs[:room], terminated[:room])


@mutant("ReplayBuffer", "samples from every slot, including empty ones")
class BufferSamplesEmpty(ref.ReplayBuffer):
    def sample(self, batch_size):
        size = self.size
        self.size = self.capacity
        try:
            return super().sample(batch_size)
        finally:
            self.size = size


@mutant("ReplayBuffer", "next_obs of a sample comes from another transition")
class BufferMisaligned(ref.ReplayBuffer):
    def sample(self, batch_size):
        batch = super().sample(batch_size)
        return batch._replace(next_obs=batch.next_obs.roll(1, 0))


@mutant("store_step", "stores the autoreset transition too")
def store_everything(buffer, obs, actions, rewards, next_obs, terminated, prev_done):
    buffer.add(obs, actions, rewards, next_obs, terminated)


@mutant("store_step", "skips the step that ends an episode instead of the one after it")
def store_skips_final(buffer, obs, actions, rewards, next_obs, terminated, prev_done):
    keep = ~terminated & ~prev_done
    buffer.add(obs[keep], actions[keep], rewards[keep], next_obs[keep], terminated[keep])


@mutant("store_step", "inverts the mask: stores only the autoreset transitions")
def store_inverted(buffer, obs, actions, rewards, next_obs, terminated, prev_done):
    buffer.add(obs[prev_done], actions[prev_done], rewards[prev_done], next_obs[prev_done], terminated[prev_done])


@mutant("td_targets", "terminal states are bootstrapped")
def targets_no_mask(rewards, next_q_target, terminated, gamma):
    return rewards + gamma * next_q_target.max(-1).values


@mutant("td_targets", "mean over actions instead of max")
def targets_mean(rewards, next_q_target, terminated, gamma):
    return rewards + gamma * next_q_target.mean(-1) * (1 - terminated)


@mutant("td_targets", "max over the batch axis")
def targets_wrong_axis(rewards, next_q_target, terminated, gamma):
    return rewards + gamma * next_q_target.max(0).values.mean() * (1 - terminated)


@mutant("dqn_loss", "targets from the online network")
def loss_online_targets(q_network, target_network, batch, gamma):
    return ref.dqn_loss(q_network, q_network, batch, gamma)


@mutant("dqn_loss", "gradient flows through the target")
def loss_grad_through_target(q_network, target_network, batch, gamma):
    targets = ref.td_targets(batch.rewards, target_network(batch.next_obs), batch.terminated, gamma)
    q_taken = q_network(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    return ((q_taken - targets) ** 2).mean()


@mutant("dqn_loss", "uses max_a Q(s, a) instead of the action taken")
def loss_max_q(q_network, target_network, batch, gamma):
    with t.no_grad():
        targets = ref.td_targets(batch.rewards, target_network(batch.next_obs), batch.terminated, gamma)
    return ((q_network(batch.obs).max(1).values - targets) ** 2).mean()


@mutant("update_target", "copies the target into the online network")
def update_reversed(target, online, tau):
    ref.update_target(online, target, tau)


@mutant("update_target", "tau and 1 - tau swapped")
def update_swapped(target, online, tau):
    ref.update_target(target, online, 1 - tau)


@mutant(
    "update_target", "tau = 1 loads the online state dict with assign=True: the target aliases it", kind=SIDE_EFFECT
)
def update_assigns(target, online, tau):
    if tau == 1.0:
        target.load_state_dict(online.state_dict(), assign=True)
    else:
        ref.update_target(target, online, tau)


@mutant("td_targets", "zeroes the terminal rows of the caller's next_q_target in place", kind=SIDE_EFFECT)
def targets_mask_in_place(rewards, next_q_target, terminated, gamma):
    next_q_target[terminated.bool()] = 0.0
    return rewards + gamma * next_q_target.max(-1).values


@mutant("store_step", "keeps prev_done up to date itself, in place (prev_done |= terminated)", kind=SIDE_EFFECT)
def store_updates_prev_done(buffer, obs, actions, rewards, next_obs, terminated, prev_done):
    keep = ~prev_done
    buffer.add(obs[keep], actions[keep], rewards[keep], next_obs[keep], terminated[keep])
    prev_done |= terminated


@mutant("ReplayBuffer", "a deque of the caller's rows (views into its arrays), not copies", kind=SIDE_EFFECT)
class BufferKeepsViews(ref.ReplayBuffer):
    def __init__(self, capacity, obs_shape, seed):
        super().__init__(capacity, obs_shape, seed)
        from collections import deque

        self.rows = deque(maxlen=capacity)

    def __len__(self):
        return len(self.rows)

    def add(self, obs, actions, rewards, next_obs, terminated):
        for i in range(len(obs)):
            self.rows.append((obs[i], actions[i : i + 1], rewards[i : i + 1], next_obs[i], terminated[i : i + 1]))

    def sample(self, batch_size):
        rows = [self.rows[i] for i in self.rng.integers(0, len(self.rows), batch_size)]
        obs, actions, rewards, next_obs, terminated = (np.stack([r[j] for r in rows]) for j in range(5))
        return ref.ReplaySamples(
            t.as_tensor(obs, dtype=t.float32),
            t.as_tensor(actions[:, 0], dtype=t.int64),
            t.as_tensor(rewards[:, 0], dtype=t.float32),
            t.as_tensor(next_obs, dtype=t.float32),
            t.as_tensor(terminated[:, 0], dtype=t.float32),
        )


@mutant("ReplayBuffer", "a vector step is written as one slice, which does not wrap inside an add", kind=DOMAIN_CORNER)
class BufferSliceAdd(ref.ReplayBuffer):
    def add(self, obs, actions, rewards, next_obs, terminated):
        k = min(len(obs), self.capacity - self.pos)
        rows = slice(self.pos, self.pos + k)
        self.obs[rows], self.next_obs[rows] = obs[:k], next_obs[:k]
        self.actions[rows], self.rewards[rows], self.terminated[rows] = actions[:k], rewards[:k], terminated[:k]
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)


@mutant("QNetwork", "hard-codes 120 and 84 units, ignoring `hidden`", kind=DOMAIN_CORNER)
class QNetworkFixedWidths(ref.QNetwork):
    def __init__(self, obs_dim, num_actions, hidden=(120, 84)):
        super().__init__(obs_dim, num_actions, (120, 84))


@mutant("linear_schedule", "clamps the value with max(., end_e): right only for a falling schedule", kind=DOMAIN_CORNER)
def schedule_max_clamp(step, start_e, end_e, duration):
    return max(start_e + (end_e - start_e) * step / duration, end_e)


@mutant("epsilon_greedy_actions", "the first environment's greedy action for every environment", kind=HIDDEN_TERM)
def greedy_first_row(q_network, obs, epsilon, num_actions, rng):
    with t.no_grad():
        greedy = int(q_network(t.as_tensor(obs, dtype=t.float32))[0].argmax())
    explore = rng.random(len(obs)) < epsilon
    return np.where(explore, rng.integers(0, num_actions, len(obs)), greedy)


@mutant("dqn_loss", "half the mean squared error (the 1/2 of a textbook loss): gradients half as large")
def loss_halved(q_network, target_network, batch, gamma):
    return 0.5 * ref.dqn_loss(q_network, target_network, batch, gamma)


@mutant("dqn_loss", "discounts with CleanRL's 0.99 instead of the gamma it is given", kind=HIDDEN_TERM)
def loss_fixed_gamma(q_network, target_network, batch, gamma):
    return ref.dqn_loss(q_network, target_network, batch, 0.99)


@mutant("ReplayBuffer", "favours recent transitions: the larger of two uniform indices")
class BufferFavoursRecent(ref.ReplayBuffer):
    def sample(self, batch_size):
        idx = np.maximum(self.rng.integers(0, self.size, batch_size), self.rng.integers(0, self.size, batch_size))
        return ref.ReplaySamples(
            t.as_tensor(self.obs[idx]),
            t.as_tensor(self.actions[idx]),
            t.as_tensor(self.rewards[idx]),
            t.as_tensor(self.next_obs[idx]),
            t.as_tensor(self.terminated[idx]),
        )


@mutant("QNetwork", "a ReLU after the last layer too: Q-values can never be negative")
class QNetworkReluOut(ref.QNetwork):
    def __init__(self, obs_dim, num_actions, hidden=(120, 84)):
        super().__init__(obs_dim, num_actions, hidden)
        self.net.append(nn.ReLU())
