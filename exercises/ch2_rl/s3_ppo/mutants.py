"""Plausible wrong answers for section 2.3; `tests.py` must reject every one (see the meta-tests)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch as t
from torch import nn
from torch.distributions import Categorical

from exercises.ch2_rl.s3_ppo import solutions as ref
from exercises.framework.mutants import DOMAIN_CORNER, HIDDEN_TERM, SIDE_EFFECT, mutant


@mutant("layer_init", "leaves the bias at PyTorch's random initialisation")
def init_keeps_bias(layer, std=2**0.5, bias_const=0.0):
    nn.init.orthogonal_(layer.weight, std)
    return layer


@mutant("layer_init", "uses a Gaussian instead of an orthogonal matrix")
def init_gaussian(layer, std=2**0.5, bias_const=0.0):
    nn.init.normal_(layer.weight, 0.0, std / layer.weight.shape[1] ** 0.5)
    nn.init.constant_(layer.bias, bias_const)
    return layer


@mutant("Agent", "initialises the actor head with gain sqrt(2): the initial policy is far from uniform")
class AgentGreedyInit(ref.Agent):
    def __init__(self, obs_dim, num_actions, hidden=64):
        super().__init__(obs_dim, num_actions, hidden)
        self.actor[-1] = ref.layer_init(nn.Linear(hidden, num_actions), std=2.0)


@mutant("Agent", "returns values of shape (batch, 1)")
class AgentUnsqueezedValue(ref.Agent):
    def get_value(self, obs):
        return self.critic(obs)


@mutant("Agent", "samples a new action even when one is given")
class AgentIgnoresAction(ref.Agent):
    def get_action_and_value(self, obs, action=None):
        dist = Categorical(logits=self.actor(obs))
        sampled = dist.sample()
        return action if action is not None else sampled, dist.log_prob(sampled), dist.entropy(), self.get_value(obs)


def _rollout_variant(
    *, valid_rule: str = "prev_done", done_rule: str = "either", store_next: bool = False, log_steps: bool = True
):
    """A collect_rollout with one rule changed; the default arguments give the reference behaviour."""

    def collect_rollout(envs, agent, obs, prev_done, num_steps, log=None, global_step=0):
        fields = {k: [] for k in ("obs", "actions", "logprobs", "values", "rewards", "terminated", "dones", "valid")}
        with t.no_grad():
            for _ in range(num_steps):
                obs_t = t.as_tensor(obs, dtype=t.float32)
                action, logprob, _, value = agent.get_action_and_value(obs_t)
                next_obs, reward, terminated, truncated, infos = envs.step(action.numpy())
                global_step += envs.num_envs
                if log is not None and log_steps:
                    log.record(infos, global_step)
                done = terminated | truncated if done_rule == "either" else terminated
                valid = {"prev_done": ~prev_done, "always": np.ones_like(done), "same_step": ~done}[valid_rule]
                stored = t.as_tensor(next_obs, dtype=t.float32) if store_next else obs_t
                for key, x in (
                    ("obs", stored),
                    ("actions", action),
                    ("logprobs", logprob),
                    ("values", value),
                    ("rewards", t.as_tensor(reward, dtype=t.float32)),
                    ("terminated", t.as_tensor(terminated)),
                    ("dones", t.as_tensor(done)),
                    ("valid", t.as_tensor(valid)),
                ):
                    fields[key].append(x)
                obs = next_obs
                prev_done = done
        return ref.Rollout(**{k: t.stack(v) for k, v in fields.items()}, next_obs=obs, next_done=prev_done)

    return collect_rollout


rollout_all_valid = mutant("collect_rollout", "stores the autoreset step as a valid transition")(
    _rollout_variant(valid_rule="always")
)
rollout_same_step = mutant("collect_rollout", "marks the done step itself invalid instead of the step after it")(
    _rollout_variant(valid_rule="same_step")
)
rollout_ignores_truncation = mutant("collect_rollout", "treats only termination as the end of an episode")(
    _rollout_variant(done_rule="terminated")
)
rollout_stores_next_obs = mutant("collect_rollout", "stores the observation after the step")(
    _rollout_variant(store_next=True)
)
rollout_no_log = mutant("collect_rollout", "never records finished episodes in the log")(
    _rollout_variant(log_steps=False)
)


@mutant("collect_rollout", "ignores prev_done: the first step of each rollout is always valid")
def rollout_forgets_carry(envs, agent, obs, prev_done, num_steps, log=None, global_step=0):
    return ref.collect_rollout(envs, agent, obs, np.zeros_like(prev_done), num_steps, log, global_step)


def _gae(rewards, values, next_value, terminated, dones, gamma, lam, *, boot, chain):
    next_values = t.cat([values[1:], next_value[None]])
    adv, last = t.zeros_like(rewards), t.zeros_like(next_value)
    for s in reversed(range(len(rewards))):
        delta = rewards[s] + gamma * next_values[s] * (1 - boot[s].float()) - values[s]
        last = delta + gamma * lam * (1 - chain[s].float()) * last
        adv[s] = last
    return adv


@mutant("compute_gae", "GAE without the done mask: advantages leak across episodes")
def gae_no_done_mask(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    return _gae(
        rewards, values, next_value, terminated, dones, gamma, gae_lambda, boot=terminated, chain=t.zeros_like(dones)
    )


@mutant("compute_gae", "drops the bootstrap on truncation too")
def gae_no_truncation_bootstrap(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    return _gae(rewards, values, next_value, terminated, dones, gamma, gae_lambda, boot=dones, chain=dones)


@mutant("compute_gae", "forgets lambda")
def gae_no_lambda(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    return _gae(rewards, values, next_value, terminated, dones, gamma, 1.0, boot=terminated, chain=dones)


@mutant("normalize_advantages", "advantages not normalised (returned unchanged)")
def advantages_unnormalised(advantages, eps=1e-8):
    return advantages


@mutant("normalize_advantages", "divides by the variance")
def advantages_over_variance(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / (advantages.var() + eps)


@mutant("normalize_advantages", "no epsilon: constant advantages give nan")
def advantages_no_eps(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / advantages.std()


@mutant("clipped_surrogate_loss", "takes the min of the negated terms (the ratio clipped on the wrong side)")
def surrogate_min(new_logprob, old_logprob, advantages, clip_coef):
    ratio = (new_logprob - old_logprob).exp()
    return t.min(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()


@mutant("clipped_surrogate_loss", "only the clipped term")
def surrogate_clipped_only(new_logprob, old_logprob, advantages, clip_coef):
    ratio = (new_logprob - old_logprob).exp()
    return (-advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()


@mutant("clipped_surrogate_loss", "returns the objective instead of the loss")
def surrogate_sign(new_logprob, old_logprob, advantages, clip_coef):
    return -ref.clipped_surrogate_loss(new_logprob, old_logprob, advantages, clip_coef)


@mutant("clipped_value_loss", "value loss unclipped")
def value_unclipped(new_values, old_values, returns, clip_coef):
    return 0.5 * ((new_values - returns) ** 2).mean()


@mutant("clipped_value_loss", "min instead of max")
def value_min(new_values, old_values, returns, clip_coef):
    clipped = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
    return 0.5 * t.min((new_values - returns) ** 2, (clipped - returns) ** 2).mean()


@mutant("ppo_loss", "adds the entropy bonus with the wrong sign")
def loss_entropy_sign(agent, mb, args):
    loss, stats = ref.ppo_loss(agent, mb, args)
    return loss + 2 * args.ent_coef * stats["entropy"], stats


@mutant("ppo_loss", "never normalises the advantages")
def loss_no_norm(agent, mb, args):
    return ref.ppo_loss(agent, mb, replace(args, norm_adv=False))


@mutant("ppo_loss", "forgets the value coefficient")
def loss_no_vf_coef(agent, mb, args):
    return ref.ppo_loss(agent, mb, replace(args, vf_coef=1.0))


@mutant("minibatch_indices", "no shuffle")
def minibatches_in_order(batch_size, num_minibatches, generator):
    return list(t.arange(batch_size).tensor_split(num_minibatches))


@mutant("minibatch_indices", "samples with replacement")
def minibatches_with_replacement(batch_size, num_minibatches, generator):
    return list(t.randint(0, batch_size, (batch_size,), generator=generator).tensor_split(num_minibatches))


@mutant("minibatch_indices", "ignores the generator")
def minibatches_global_rng(batch_size, num_minibatches, generator):
    return list(t.randperm(batch_size).tensor_split(num_minibatches))


@mutant("annealed_lr", "off by one: the last update has learning rate 0")
def lr_off_by_one(update, num_updates, lr):
    return lr * (1.0 - (update + 1) / num_updates)


@mutant("sweep", "trains every run with base's seed: the seeds are never set")
def sweep_one_seed(train, base, setting, values, seeds, threshold=475.0):
    return {v: [train(replace(base, **{setting: v})).log.first_step_reaching(threshold) for _ in seeds] for v in values}


@mutant("sweep", "reports the steps each run took (global_step), not the step at which it solved")
def sweep_steps_run(train, base, setting, values, seeds, threshold=475.0):
    return {v: [train(replace(base, **{setting: v, "seed": s})).global_step for s in seeds] for v in values}


@mutant("sweep", "counts the first single episode above the threshold, not a 20-episode mean")
def sweep_single_episode(train, base, setting, values, seeds, threshold=475.0):
    out = {}
    for v in values:
        out[v] = []
        for s in seeds:
            log = train(replace(base, **{setting: v, "seed": s})).log
            out[v].append(next((step for r, step in zip(log.returns, log.steps) if r >= threshold), None))
    return out


@mutant("sweep", "ignores `threshold` and always asks for 475")
def sweep_fixed_threshold(train, base, setting, values, seeds, threshold=475.0):
    return ref.sweep(train, base, setting, values, seeds)


# --- side effects, the whole domain, every term (issue 19) ---------------------------------------


@mutant("collect_rollout", "collects outside no_grad: stored log-probs and values keep the graph", kind=SIDE_EFFECT)
def rollout_keeps_history(envs, agent, obs, prev_done, num_steps, log=None, global_step=0):
    with t.enable_grad():
        fields = {k: [] for k in ("obs", "actions", "logprobs", "values", "rewards", "terminated", "dones", "valid")}
        for _ in range(num_steps):
            obs_t = t.as_tensor(obs, dtype=t.float32)
            action, logprob, _, value = agent.get_action_and_value(obs_t)
            next_obs, reward, terminated, truncated, infos = envs.step(action.numpy())
            global_step += envs.num_envs
            if log is not None:
                log.record(infos, global_step)
            for key, x in (
                ("obs", obs_t),
                ("actions", action),
                ("logprobs", logprob),
                ("values", value),
                ("rewards", t.as_tensor(reward, dtype=t.float32)),
                ("terminated", t.as_tensor(terminated)),
                ("dones", t.as_tensor(terminated | truncated)),
                ("valid", t.as_tensor(~prev_done)),
            ):
                fields[key].append(x)
            obs, prev_done = next_obs, terminated | truncated
    return ref.Rollout(**{k: t.stack(v) for k, v in fields.items()}, next_obs=obs, next_done=prev_done)


@mutant("collect_rollout", "updates the caller's prev_done array in place", kind=SIDE_EFFECT)
def rollout_overwrites_prev_done(envs, agent, obs, prev_done, num_steps, log=None, global_step=0):
    r = ref.collect_rollout(envs, agent, obs, prev_done.copy(), num_steps, log, global_step)
    prev_done[:] = r.next_done
    return r


@mutant("compute_gae", "turns the rewards into TD errors in place", kind=SIDE_EFFECT)
def gae_in_place_deltas(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    next_values = t.cat([values[1:], next_value[None]])
    rewards += gamma * next_values * (1 - terminated.float()) - values
    adv, last = t.zeros_like(rewards), t.zeros_like(next_value)
    for s in reversed(range(len(rewards))):
        last = rewards[s] + gamma * gae_lambda * (1 - dones[s].float()) * last
        adv[s] = last
    return adv


@mutant("compute_gae", "the last step always bootstraps from next_value, even when it terminated", kind=DOMAIN_CORNER)
def gae_last_step_always_bootstraps(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    boot = terminated.clone()
    boot[-1] = False
    return _gae(rewards, values, next_value, terminated, dones, gamma, gae_lambda, boot=boot, chain=dones)


@mutant("compute_gae", "accumulates in a float32 buffer: float64 rollouts come back as float32", kind=DOMAIN_CORNER)
def gae_float32_buffer(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    out = t.zeros(rewards.shape)
    out[:] = ref.compute_gae(rewards, values, next_value, terminated, dones, gamma, gae_lambda)
    return out


@mutant("normalize_advantages", "normalises the advantages in place", kind=SIDE_EFFECT)
def advantages_in_place(advantages, eps=1e-8):
    advantages -= advantages.mean()
    advantages /= advantages.std() + eps
    return advantages


@mutant("normalize_advantages", "ignores the eps argument (a hard-coded 1e-8)", kind=HIDDEN_TERM)
def advantages_fixed_eps(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


@mutant("clipped_surrogate_loss", "clips the log-ratio instead of the ratio", kind=HIDDEN_TERM)
def surrogate_clips_log_ratio(new_logprob, old_logprob, advantages, clip_coef):
    log_ratio = new_logprob - old_logprob
    clipped = log_ratio.clamp(-clip_coef, clip_coef).exp()
    return t.max(-advantages * log_ratio.exp(), -advantages * clipped).mean()


@mutant("ppo_loss", "normalises mb.advantages in place", kind=SIDE_EFFECT)
def loss_normalises_in_place(agent, mb, args):
    if args.norm_adv:
        mb.advantages.sub_(mb.advantages.mean()).div_(mb.advantages.std() + 1e-8)
    return ref.ppo_loss(agent, mb, replace(args, norm_adv=False))


@mutant("ppo_loss", "hard-codes the value coefficient 0.5 instead of args.vf_coef", kind=HIDDEN_TERM)
def loss_fixed_vf_coef(agent, mb, args):
    return ref.ppo_loss(agent, mb, replace(args, vf_coef=0.5))


@mutant("ppo_loss", "hard-codes the clip coefficient 0.2 instead of args.clip_coef", kind=HIDDEN_TERM)
def loss_fixed_clip(agent, mb, args):
    return ref.ppo_loss(agent, mb, replace(args, clip_coef=0.2))


@mutant("ppo_loss", "subtracts the logged float entropy: the entropy term has no gradient", kind=HIDDEN_TERM)
def loss_entropy_as_float(agent, mb, args):
    loss, stats = ref.ppo_loss(agent, mb, args)
    _, _, entropy, _ = agent.get_action_and_value(mb.obs, mb.actions)
    return loss + args.ent_coef * entropy.mean() - args.ent_coef * stats["entropy"], stats


@mutant("Agent", "get_action_and_value runs under no_grad: the update gets no gradient", kind=HIDDEN_TERM)
class AgentNoGrad(ref.Agent):
    @t.no_grad()
    def get_action_and_value(self, obs, action=None):
        return super().get_action_and_value(obs, action)
