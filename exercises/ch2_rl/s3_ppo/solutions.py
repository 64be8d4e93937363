"""Reference solutions for section 2.3, Proximal policy optimisation.

Generated from source.md by `arena generate`. Do not edit: edit source.md.
"""


import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch as t
from torch import Tensor, nn
from torch.distributions import Categorical

from exercises.ch2_rl.common import EpisodeLog, first_obs, make_vec_env, seed_everything
from exercises.framework.config import pick


# Exercise 2.3.1: Orthogonal initialisation
def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Orthogonal weights scaled by `std`, constant bias; returns the same layer, edited in place."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


# Exercise 2.3.2: Separate actor and critic networks
class Agent(nn.Module):
    """Actor-critic for discrete actions, with separate `actor` and `critic` networks."""

    def __init__(self, obs_dim: int, num_actions: int, hidden: int = 64) -> None:
        super().__init__()
        def trunk() -> list[nn.Module]:
            return [layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(), layer_init(nn.Linear(hidden, hidden)), nn.Tanh()]

        self.critic = nn.Sequential(*trunk(), layer_init(nn.Linear(hidden, 1), std=1.0))
        self.actor = nn.Sequential(*trunk(), layer_init(nn.Linear(hidden, num_actions), std=0.01))

    def get_value(self, obs: Tensor) -> Tensor:
        """(batch, obs_dim) -> (batch,) state values."""
        return self.critic(obs).squeeze(-1)

    def get_action_and_value(self, obs: Tensor, action: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """-> (action, log-prob of that action, entropy, value), each (batch,). Samples when `action` is None."""
        dist = Categorical(logits=self.actor(obs))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.get_value(obs)


class Rollout(NamedTuple):
    """`num_steps` steps of `num_envs` environments; every field but the last two is (T, N, ...)."""

    obs: Tensor  # the observation the action was chosen from
    actions: Tensor  # long
    logprobs: Tensor  # log pi_old(action | obs)
    values: Tensor  # V_old(obs)
    rewards: Tensor
    terminated: Tensor  # bool: the episode ended at this step in a terminal state (no bootstrap)
    dones: Tensor  # bool: the episode ended at this step, by termination or truncation
    valid: Tensor  # bool: a real transition, i.e. not the autoreset step after a done
    next_obs: np.ndarray  # (N, obs_dim): the observation after the last step
    next_done: np.ndarray  # (N,) bool: whether the last step ended an episode


# Exercise 2.3.3: A rollout that masks the autoreset step
def collect_rollout(
    envs: gym.vector.VectorEnv,
    agent: Agent,
    obs: np.ndarray,
    prev_done: np.ndarray,
    num_steps: int,
    log: EpisodeLog | None = None,
    global_step: int = 0,
) -> Rollout:
    """Step `envs` `num_steps` times from `obs`; `prev_done` says which environments autoreset first.

    `global_step` counts environment steps before this rollout (for the episode log).
    """
    n = envs.num_envs
    steps: dict[str, list[Tensor]] = {k: [] for k in ("obs", "actions", "logprobs", "values", "rewards", "terminated", "dones", "valid")}
    with t.no_grad():
        for _ in range(num_steps):
            obs_t = t.as_tensor(obs, dtype=t.float32)
            action, logprob, _, value = agent.get_action_and_value(obs_t)
            next_obs, reward, terminated, truncated, infos = envs.step(action.numpy())
            global_step += n
            if log is not None:
                log.record(infos, global_step)
            for key, x in (
                ("obs", obs_t), ("actions", action), ("logprobs", logprob), ("values", value),
                ("rewards", t.as_tensor(reward, dtype=t.float32)), ("terminated", t.as_tensor(terminated)),
                ("dones", t.as_tensor(terminated | truncated)), ("valid", t.as_tensor(~prev_done)),
            ):
                steps[key].append(x)
            obs, prev_done = next_obs, terminated | truncated
    return Rollout(**{k: t.stack(v) for k, v in steps.items()}, next_obs=obs, next_done=prev_done)


# Exercise 2.3.4: Generalised advantage estimates
def compute_gae(
    rewards: Tensor,
    values: Tensor,
    next_value: Tensor,
    terminated: Tensor,
    dones: Tensor,
    gamma: float,
    gae_lambda: float,
) -> Tensor:
    """rewards, values, terminated, dones: (T, N); next_value: (N,) -> advantages (T, N)."""
    num_steps = rewards.shape[0]
    advantages = t.zeros_like(rewards)
    next_values = t.cat([values[1:], next_value[None]])
    last = t.zeros_like(next_value)
    for step in reversed(range(num_steps)):
        delta = rewards[step] + gamma * next_values[step] * (1 - terminated[step].float()) - values[step]
        last = delta + gamma * gae_lambda * (1 - dones[step].float()) * last
        advantages[step] = last
    return advantages


# Exercise 2.3.5: Advantage normalisation
def normalize_advantages(advantages: Tensor, eps: float = 1e-8) -> Tensor:
    """Shift and scale to mean 0 and standard deviation 1 (eps keeps constant inputs finite)."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


# Exercise 2.3.6: The clipped surrogate objective
def clipped_surrogate_loss(new_logprob: Tensor, old_logprob: Tensor, advantages: Tensor, clip_coef: float) -> Tensor:
    """Scalar loss to minimise: the negated clipped surrogate, averaged over the batch."""
    ratio = (new_logprob - old_logprob).exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)
    return t.max(unclipped, clipped).mean()


# Exercise 2.3.7: The clipped value loss
def clipped_value_loss(new_values: Tensor, old_values: Tensor, returns: Tensor, clip_coef: float) -> Tensor:
    """Scalar: half the mean of the larger of the unclipped and clipped squared errors."""
    clipped = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
    return 0.5 * t.max((new_values - returns) ** 2, (clipped - returns) ** 2).mean()


@dataclass(frozen=True)
class PPOArgs:
    """Hyperparameters for CartPole-v1; "Choosing the hyperparameters" below gives the reason for each.

    Change one with `PPOArgs(ent_coef=0.01)` or `replace(args, ent_coef=0.01)` (from dataclasses).
    """

    env_id: str = "CartPole-v1"  # a Gymnasium id with a flat Box observation and Discrete actions
    seed: int = 1  # seeds torch, NumPy and the environments: the same seed reproduces a run
    total_timesteps: int = pick(smoke=4096, default=100_000, full=200_000)  # environment steps, all envs together
    stop_at_return: float | None = None  # stop once the mean of the last 20 returns reaches this; None runs the budget
    num_envs: int = 8  # environments stepped in parallel: 8 different episodes in every batch
    num_steps: int = 32  # steps per environment per rollout: batch = 8 * 32 = 256 transitions
    num_minibatches: int = 4  # the batch is split into 4 minibatches of 64 per epoch
    update_epochs: int = 10  # passes over each batch: 10 * 4 = 40 gradient steps per rollout
    learning_rate: float = 1e-3  # Adam's step size at the start of the run
    anneal_lr: bool = True  # decay the learning rate linearly to 0 over total_timesteps
    gamma: float = 0.98  # discount: rewards count over a horizon of about 1 / (1 - gamma) = 50 steps
    gae_lambda: float = 0.8  # GAE's bias-variance dial: 0 is one-step TD, 1 is Monte Carlo
    clip_coef: float = 0.2  # epsilon: how far the probability ratio may move before the objective stops rewarding it
    anneal_clip: bool = True  # decay clip_coef linearly to 0 over total_timesteps, like the learning rate
    norm_adv: bool = True  # normalise advantages per minibatch
    clip_vloss: bool = False  # clip the value loss with clip_coef (CleanRL's default is True)
    ent_coef: float = 0.0  # weight of the entropy bonus
    vf_coef: float = 0.5  # weight of the value loss against the policy loss
    max_grad_norm: float = 0.5  # rescale each gradient to at most this global norm

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


class Minibatch(NamedTuple):
    """Flat (B, ...) tensors of valid transitions only."""

    obs: Tensor
    actions: Tensor
    logprobs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor


# Exercise 2.3.8: The total PPO loss
def ppo_loss(agent: Agent, mb: Minibatch, args: PPOArgs) -> tuple[Tensor, dict[str, float]]:
    """-> (scalar loss, {"policy_loss", "value_loss", "entropy", "approx_kl"} as floats for logging).

    approx_kl is the estimator mean((ratio - 1) - log ratio), which is always >= 0.
    """
    _, new_logprob, entropy, new_values = agent.get_action_and_value(mb.obs, mb.actions)
    advantages = normalize_advantages(mb.advantages) if args.norm_adv else mb.advantages
    policy_loss = clipped_surrogate_loss(new_logprob, mb.logprobs, advantages, args.clip_coef)
    if args.clip_vloss:
        value_loss = clipped_value_loss(new_values, mb.values, mb.returns, args.clip_coef)
    else:
        value_loss = 0.5 * ((new_values - mb.returns) ** 2).mean()
    entropy_mean = entropy.mean()
    loss = policy_loss - args.ent_coef * entropy_mean + args.vf_coef * value_loss
    with t.no_grad():
        log_ratio = new_logprob - mb.logprobs
        approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean()
    stats = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy_mean.item(), "approx_kl": approx_kl.item()}
    return loss, stats


# Exercise 2.3.9: Shuffled minibatches
def minibatch_indices(batch_size: int, num_minibatches: int, generator: t.Generator) -> list[Tensor]:
    """A random partition of range(batch_size) into `num_minibatches` index tensors of near-equal size."""
    return list(t.randperm(batch_size, generator=generator).tensor_split(num_minibatches))


# Exercise 2.3.10: Linear learning-rate annealing
def annealed_lr(update: int, num_updates: int, lr: float) -> float:
    """The learning rate for update `update` (0-based) of `num_updates`."""
    return lr * (1.0 - update / num_updates)


class PPOResult(NamedTuple):
    agent: Agent
    log: EpisodeLog
    global_step: int
    seconds: float

    @property
    def sps(self) -> float:
        return self.global_step / self.seconds


def flatten_valid(rollout: Rollout, advantages: Tensor) -> Minibatch:
    """The rollout's valid transitions as one flat batch: invalid autoreset steps are dropped."""
    keep = rollout.valid.flatten()
    return Minibatch(
        obs=rollout.obs.flatten(0, 1)[keep],
        actions=rollout.actions.flatten()[keep],
        logprobs=rollout.logprobs.flatten()[keep],
        values=rollout.values.flatten()[keep],
        advantages=advantages.flatten()[keep],
        returns=(advantages + rollout.values).flatten()[keep],
    )


def train_ppo(args: PPOArgs, env: str | Callable[[], gym.Env] | None = None, print_every: int = 0) -> PPOResult:
    """Train on `env` (default `args.env_id`) for `args.total_timesteps` steps, or until the mean of
    the last 20 returns reaches `args.stop_at_return`; prints a line every `print_every` updates."""
    seed_everything(args.seed)
    envs = make_vec_env(env or args.env_id, args.num_envs, args.seed)
    agent = Agent(envs.single_observation_space.shape[0], envs.single_action_space.n)
    optimizer = t.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    generator = t.Generator().manual_seed(args.seed)
    log = EpisodeLog()
    obs, prev_done = first_obs(envs), np.zeros(args.num_envs, dtype=bool)
    global_step, start = 0, time.perf_counter()
    for update in range(args.num_updates):
        # Both schedules run over the whole budget, so stopping early never changes them.
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = annealed_lr(update, args.num_updates, args.learning_rate)
        clip_coef = annealed_lr(update, args.num_updates, args.clip_coef) if args.anneal_clip else args.clip_coef
        update_args = replace(args, clip_coef=clip_coef)

        rollout = collect_rollout(envs, agent, obs, prev_done, args.num_steps, log, global_step)
        global_step += args.batch_size
        obs, prev_done = rollout.next_obs, rollout.next_done
        with t.no_grad():
            next_value = agent.get_value(t.as_tensor(obs, dtype=t.float32))
        advantages = compute_gae(
            rollout.rewards, rollout.values, next_value, rollout.terminated, rollout.dones, args.gamma, args.gae_lambda
        )
        batch = flatten_valid(rollout, advantages)
        for _ in range(args.update_epochs):
            for idx in minibatch_indices(len(batch.obs), args.num_minibatches, generator):
                mb = Minibatch(*(x[idx] for x in batch))
                loss, stats = ppo_loss(agent, mb, update_args)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        if print_every and (update + 1) % print_every == 0:
            sps = global_step / (time.perf_counter() - start)
            print(
                f"step {global_step:>7}  mean return (last 20) {log.mean_last(20):6.1f}  "
                f"approx_kl {stats['approx_kl']:.4f}  entropy {stats['entropy']:.3f}  SPS {sps:,.0f}"
            )
        if args.stop_at_return is not None and log.first_step_reaching(args.stop_at_return) is not None:
            break
    envs.close()
    return PPOResult(agent, log, global_step, time.perf_counter() - start)


# Exercise 2.3.11: A hyperparameter sweep
def sweep(
    train: Callable[[PPOArgs], PPOResult],
    base: PPOArgs,
    setting: str,
    values: Sequence[Any],
    seeds: Sequence[int],
    threshold: float = 475.0,
) -> dict[Any, list[int | None]]:
    """Steps to solve for every value of `setting` and every seed: {value: [step or None per seed]}.

    Each run is `train(base with setting = value and seed = seed)`; "solved" is the first step at
    which the mean of the last 20 returns reached `threshold` (None if it never did).
    """
    return {
        value: [train(replace(base, **{setting: value, "seed": seed})).log.first_step_reaching(threshold) for seed in seeds]
        for value in values
    }
