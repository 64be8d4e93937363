"""Right answers for section 2.3 written another way; `tests.py` must accept every one (see the
meta-tests), so that a test never rejects a correct PPO piece for not being the reference."""

from __future__ import annotations

import torch as t

from exercises.ch2_rl.s3_ppo import solutions as ref
from exercises.framework.alternatives import alternative


@alternative("compute_gae", "forwards over horizons: A = sum_k (weight of k steps ahead) * delta shifted by k")
def gae_by_horizon(rewards, values, next_value, terminated, dones, gamma, gae_lambda):
    steps = rewards.shape[0]
    next_values = t.cat([values[1:], next_value[None]])
    deltas = rewards + gamma * next_values * (~terminated) - values
    carry = gamma * gae_lambda * (~dones).to(rewards.dtype)  # takes A_{s+1} into A_s
    advantages = deltas.clone()
    weight = t.ones_like(deltas)  # weight[s] = product of carry[s .. s + k - 1]
    for k in range(1, steps):
        weight = weight[:-1] * carry[k - 1 : steps - 1]
        advantages[:-k] += weight * deltas[k:]
    return advantages


@alternative("normalize_advantages", "t.std_mean in one call, and a multiply by the reciprocal")
def normalize_std_mean(advantages, eps=1e-8):
    std, mean = t.std_mean(advantages)
    return (advantages - mean) * (1.0 / (std + eps))


@alternative("clipped_surrogate_loss", "the objective's min, negated, instead of the max of the negated terms")
def surrogate_negated_min(new_logprob, old_logprob, advantages, clip_coef):
    ratio = t.exp(new_logprob - old_logprob)
    clipped = t.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return -t.minimum(advantages * ratio, advantages * clipped).mean()


@alternative("clipped_value_loss", "torch.maximum of the two errors, clipped value via torch.clamp around old")
def value_loss_maximum(new_values, old_values, returns, clip_coef):
    clipped = t.clamp(new_values, old_values - clip_coef, old_values + clip_coef)
    return t.maximum((new_values - returns).square(), (clipped - returns).square()).mean() / 2


@alternative("minibatch_indices", "one permutation, cut by hand at near-equal boundaries")
def minibatches_by_hand(batch_size, num_minibatches, generator):
    perm = t.randperm(batch_size, generator=generator)
    bounds = [round(i * batch_size / num_minibatches) for i in range(num_minibatches + 1)]
    return [perm[a:b] for a, b in zip(bounds, bounds[1:])]


@alternative("annealed_lr", "the remaining fraction of updates, (num_updates - update) / num_updates")
def annealed_remaining(update, num_updates, lr):
    return (num_updates - update) / num_updates * lr


@alternative("ppo_loss", "value loss via F.mse_loss, entropy bonus and approx_kl written out")
def ppo_loss_mse(agent, mb, args):
    _, new_logprob, entropy, new_values = agent.get_action_and_value(mb.obs, mb.actions)
    adv = mb.advantages
    if args.norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy_loss = ref.clipped_surrogate_loss(new_logprob, mb.logprobs, adv, args.clip_coef)
    if args.clip_vloss:
        value_loss = ref.clipped_value_loss(new_values, mb.values, mb.returns, args.clip_coef)
    else:
        value_loss = 0.5 * t.nn.functional.mse_loss(new_values, mb.returns)
    loss = policy_loss + args.vf_coef * value_loss - args.ent_coef * entropy.mean()
    ratio = (new_logprob - mb.logprobs).detach().exp()
    stats = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy.mean().item(),
        "approx_kl": float((ratio - 1 - ratio.log()).mean()),
    }
    return loss, stats
