"""Plausible wrong answers for section 2.2; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

import numpy as np
import torch as t
from torch import nn

from exercises.ch2_rl.s2_dqn import solutions as ref
from exercises.framework.mutants import mutant


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
