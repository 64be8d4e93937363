"""Tests for section 2.3. Call them from your notebook, e.g. `tests.test_compute_gae(compute_gae)`.

Rollouts are tested on `CountingEnv`, whose observation (episode, step) exposes any transition
that crosses an episode boundary; the losses are compared with the reference on inputs drawn by
hypothesis, and a wrong answer that matches a known mistake is named.
"""

from __future__ import annotations

import math

import numpy as np
import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.distributions import Categorical

from exercises.ch2_rl.common import CountingEnv, EpisodeLog, first_obs, make_vec_env
from exercises.ch2_rl.s3_ppo import solutions as ref
from exercises.framework.asserts import (
    LEARNER_SETTINGS,
    assert_close,
    assert_equal,
    assert_shape,
    check,
    learner_test,
)
from exercises.framework.guards import assert_layouts, assert_no_history, corner, unchanged

seeds = st.integers(0, 2**16)


def _gen(seed: int) -> t.Generator:
    return t.Generator().manual_seed(seed)


@learner_test
def test_layer_init(layer_init) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 12), st.integers(1, 12), st.floats(0.01, 3.0), st.floats(-1.0, 1.0))
    def prop(fan_in: int, fan_out: int, std: float, bias: float) -> None:
        layer = nn.Linear(fan_in, fan_out)
        out = layer_init(layer, std, bias)
        check(out is layer, "layer_init must return the layer it was given (initialised in place), not a new one.")
        w = layer.weight.detach().double()
        gram = w @ w.T if fan_out <= fan_in else w.T @ w
        check(
            bool(t.allclose(gram, std**2 * t.eye(gram.shape[0], dtype=t.float64), atol=1e-4)),
            f"the weights of a {fan_in}->{fan_out} layer with std={std:.3g} are not orthogonal with gain std: "
            "expected W W^T = std^2 I. Use nn.init.orthogonal_(layer.weight, std).",
        )
        assert_close(layer.bias.detach(), t.full((fan_out,), bias), "the bias")

    prop()
    layer = layer_init(nn.Linear(8, 4))
    gram = layer.weight.detach() @ layer.weight.detach().T
    assert_close(
        gram,
        2 * t.eye(4),
        "W W^T with the default std",
        atol=1e-4,
        diagnose={"the default std is 1, not sqrt(2)": t.eye(4)},
    )


@learner_test
def test_agent(Agent) -> None:
    t.manual_seed(0)
    agent = Agent(4, 3)
    check(isinstance(agent, nn.Module), "Agent must subclass nn.Module (and call super().__init__()).")
    check(
        isinstance(getattr(agent, "actor", None), nn.Module) and isinstance(getattr(agent, "critic", None), nn.Module),
        "Agent needs two networks, `self.actor` (obs -> logits) and `self.critic` (obs -> value).",
    )
    shared = {id(p) for p in agent.actor.parameters()} & {id(p) for p in agent.critic.parameters()}
    check(not shared, "the actor and the critic share parameters: build two separate networks.")
    obs = t.randn(5, 4, generator=_gen(1))
    action, logprob, entropy, value = agent.get_action_and_value(obs)
    for name, x in (("action", action), ("log-prob", logprob), ("entropy", entropy), ("value", value)):
        assert_shape(x, (5,), f"get_action_and_value(obs of shape (5, 4)): the {name}")
    assert_shape(agent.get_value(obs), (5,), "get_value(obs of shape (5, 4))")
    assert_close(value, agent.critic(obs).squeeze(-1), "the value from get_action_and_value (should be critic(obs))")
    logits = agent.actor(obs)
    check(logits.shape == (5, 3), f"actor(obs) should give logits of shape (5, 3), got {tuple(logits.shape)}.")
    log_probs = logits.log_softmax(-1)
    assert_close(logprob, log_probs.gather(1, action[:, None]).squeeze(1), "the log-probability of the sampled action")
    # Trusted oracle for the entropy: torch.distributions on the actor's logits.
    assert_close(
        entropy,
        Categorical(logits=logits).entropy(),
        "the entropy from get_action_and_value (of the policy's distribution over actions, per observation)",
    )
    # The update differentiates all three through get_action_and_value: none may be detached.
    for name, x in (("log-prob", logprob), ("entropy", entropy), ("value", value)):
        check(
            x.requires_grad,
            f"get_action_and_value returned a {name} without a gradient: PPO's update backpropagates through it. "
            "Do not compute it under `t.no_grad()` or detach it there (the rollout adds no_grad itself).",
        )
    given_action = t.tensor([0, 1, 2, 0, 1])
    a2, lp2, _, _ = agent.get_action_and_value(obs, given_action)
    assert_equal(a2, given_action, "the action returned when an action is passed in (return it unchanged)")
    assert_close(
        lp2,
        log_probs.gather(1, given_action[:, None]).squeeze(1),
        "the log-probability of the *given* action (evaluate it; do not sample a new one)",
    )
    check(
        float(entropy.detach().min()) > math.log(3) - 0.01,
        f"at initialisation the policy should be almost uniform (entropy ~ log 3 = {math.log(3):.4f}), but the lowest "
        f"entropy is {float(entropy.detach().min()):.4f}. Initialise the actor's last layer with std=0.01.",
    )


class _CountingAgent:
    """Deterministic stand-in: log-prob -step and value episode + 0.5, so a test can see which obs was used.

    Its outputs go through a parameter, as a real network's do, so a rollout collected outside
    `no_grad` stores tensors that carry autograd history."""

    def __init__(self) -> None:
        self.one = nn.Parameter(t.ones(()))

    def get_action_and_value(self, obs: t.Tensor, action: t.Tensor | None = None):
        if action is None:
            action = (obs[:, 1] % 2).long()
        return action, -obs[:, 1] * self.one, t.zeros(len(obs)) * self.one, self.get_value(obs)

    def get_value(self, obs: t.Tensor) -> t.Tensor:
        return (obs[:, 0] + 0.5) * self.one


def _rollouts(collect_rollout, num_steps: int, calls: int, seed: int):
    envs = make_vec_env(lambda: CountingEnv(max_len=4), 3, seed)
    log = EpisodeLog()
    obs, prev_done = first_obs(envs), np.zeros(3, dtype=bool)
    out = []
    for call in range(calls):
        done_before = prev_done.copy()
        r = collect_rollout(envs, _CountingAgent(), obs, prev_done, num_steps, log, call * num_steps * 3)
        check(r is not None, "collect_rollout returned None: did you forget `return Rollout(...)`?")
        check(
            bool((prev_done == done_before).all()),
            "collect_rollout changed the `prev_done` array it was handed (in place): rebind a new array instead, "
            "`prev_done = terminated | truncated`.",
        )
        # The stored log-probs and values are the old policy's: constants for the update, no graph.
        assert_no_history(r._asdict(), "rollout")
        out.append(r)
        obs, prev_done = r.next_obs, r.next_done
    return out, log


def check_rollouts_respect_boundaries(rollouts, num_steps: int) -> None:
    """Every stored transition is one step of one CountingEnv episode (the chapter's key property)."""
    for r in rollouts:
        assert_shape(r.obs, (num_steps, 3, 2), "rollout.obs")
        for name in ("actions", "logprobs", "values", "rewards", "terminated", "dones", "valid"):
            assert_shape(getattr(r, name), (num_steps, 3), f"rollout.{name}")
        check(r.valid.dtype == t.bool, f"rollout.valid should be a bool tensor, got {r.valid.dtype}.")
        assert_close(
            r.logprobs,
            -r.obs[..., 1],
            "rollout.logprobs",
            diagnose={"you stored the observation *after* the step in rollout.obs": r.logprobs},
        )
        assert_close(r.values, r.obs[..., 0] + 0.5, "rollout.values (V of the stored observation)")
    obs = t.cat([r.obs for r in rollouts] + [t.as_tensor(rollouts[-1].next_obs, dtype=t.float32)[None]])
    rewards, valid = (t.cat([getattr(r, k) for r in rollouts]) for k in ("rewards", "valid"))
    dones, terminated = (t.cat([getattr(r, k) for r in rollouts]).bool() for k in ("dones", "terminated"))
    real = rewards == 1
    check(
        bool((valid == real).all()),
        f"{int((valid & ~real).sum())} autoreset steps (reward 0, the step after a done) are marked valid and "
        f"{int((~valid & real).sum())} real steps are marked invalid. valid[t] must be `not done[t-1]`, where the "
        "previous step of a rollout's first step is the last step of the previous rollout (`prev_done`).",
    )
    ends = ~real[1:]  # the step after a done is an autoreset step, reward 0
    check(
        bool((dones[:-1] == ends).all()),
        "rollout.dones disagrees with where episodes end. done = terminated OR truncated: both end the episode.",
    )
    odd = obs[1:-1, :, 0] % 2 == 1  # CountingEnv truncates odd episodes and terminates even ones
    check(
        bool((terminated[:-1] == (dones[:-1] & ~odd)).all()),
        "rollout.terminated is wrong: it must be True only for episodes that terminated, not for truncated ones.",
    )
    step = valid & ~dones
    same_episode = obs[1:, :, 0] == obs[:-1, :, 0]
    next_step = obs[1:, :, 1] == obs[:-1, :, 1] + 1
    crossing = step & ~(same_episode & next_step)
    check(not bool(crossing.any()), f"{int(crossing.sum())} stored transitions cross an episode boundary.")


@learner_test
def test_collect_rollout(collect_rollout) -> None:
    for num_steps, calls in ((1, 24), (7, 3)):
        rollouts, log = _rollouts(collect_rollout, num_steps, calls, seed=num_steps)
        check_rollouts_respect_boundaries(rollouts, num_steps)
        check(
            len(log.returns) > 0, "no episode was logged: call `log.record(infos, global_step)` after every envs.step."
        )
        check(log.returns == [float(n) for n in log.lengths], "the logged returns do not match the episode lengths.")
        check(
            all(0 < s <= num_steps * calls * 3 for s in log.steps) and log.steps == sorted(log.steps),
            f"the logged global steps {log.steps[:5]}... should grow by num_envs per step from `global_step`.",
        )


def _gae_variant(rewards, values, next_value, terminated, dones, gamma, lam, boot_mask, chain_mask):
    next_values = t.cat([values[1:], next_value[None]])
    adv, last = t.zeros_like(rewards), t.zeros_like(next_value)
    for s in reversed(range(len(rewards))):
        delta = rewards[s] + gamma * next_values[s] * (1 - boot_mask[s].float()) - values[s]
        last = delta + gamma * lam * (1 - chain_mask[s].float()) * last
        adv[s] = last
    return adv


def gae_by_definition(rewards, values, next_value, terminated, dones, gamma, lam):
    """The trusted oracle, written from the definition rather than the backward recursion:
    A_t = sum_k (gamma lambda)^k delta_{t+k}, summed forwards and stopped after the first done."""
    steps, n = rewards.shape
    v_next = t.cat([values[1:], next_value[None]])
    delta = rewards + gamma * v_next * (~terminated.bool()) - values
    adv = t.zeros_like(rewards)
    for env in range(n):
        for start in range(steps):
            total, weight = 0.0, 1.0
            for k in range(start, steps):
                total += weight * float(delta[k, env])
                if bool(dones[k, env]):
                    break
                weight *= gamma * lam
            adv[start, env] = total
    return adv


def _gae_case(compute_gae, what: str, rewards, values, next_value, terminated, dones, gamma, lam) -> t.Tensor:
    args = (rewards, values, next_value, terminated, dones, gamma, lam)
    with (
        corner(what),
        unchanged(what, rewards=rewards, values=values, next_value=next_value, terminated=terminated, dones=dones),
    ):
        out = compute_gae(*args)
    assert_shape(out, tuple(rewards.shape), what)
    nothing = t.zeros_like(dones)
    assert_close(
        out,
        gae_by_definition(*args),
        what,
        diagnose={
            "the advantage sum does not stop at done (missing (1 - done) before gamma * lambda * A_next)": _gae_variant(
                *args, terminated, nothing
            ),
            "the advantage sum stops only at termination: a truncated episode ends too, mask it with done": _gae_variant(
                *args, terminated, terminated
            ),
            "truncated episodes are not bootstrapped: mask V(s_next) with terminated, not done": _gae_variant(
                *args, dones, dones
            ),
            "the bootstrap ignores termination: V(s_next) must be dropped when terminated": _gae_variant(
                *args, nothing, dones
            ),
            "lambda is missing: A = delta + gamma * (1 - done) * A_next": _gae_variant(
                rewards, values, next_value, terminated, dones, gamma, 1.0, terminated, dones
            ),
            "gamma is missing from the recursion: A = delta + gamma * lambda * (1 - done) * A_next": _gae_variant(
                rewards, values, next_value, terminated, dones, gamma, lam / gamma, terminated, dones
            ),
            "the last step ignores next_value: bootstrap it from V(next_obs) unless it terminated": _gae_variant(
                rewards, values, t.zeros_like(next_value), terminated, dones, gamma, lam, terminated, dones
            ),
        },
    )
    return out


@learner_test
def test_compute_gae(compute_gae) -> None:
    # A hand-checkable case: one environment, no dones, gamma 0.5, lambda 1: discounted sums.
    r, v = t.tensor([[1.0], [1.0], [1.0]]), t.zeros(3, 1)
    no = t.zeros(3, 1, dtype=t.bool)
    out = compute_gae(r, v, t.tensor([8.0]), no, no, 0.5, 1.0)
    assert_close(
        out,
        t.tensor([[2.75], [3.5], [5.0]]),
        "compute_gae on rewards 1, 1, 1, values 0, next_value 8, gamma 0.5, lambda 1",
    )

    # The corners of a rollout, one environment per column, 5 steps, gamma 0.9 and lambda 0.5
    # (gamma * lambda = 0.45 differs from both, so dropping either moves every chained advantage
    # by > 0.1). Values are non-zero and differ per step (the bootstrap and the baseline terms
    # each move the answer by > 0.5), and next_value is large (8), so the last step's bootstrap
    # shows wherever it is kept or dropped.
    #   env 0: truncated at step 1 (bootstrap from values[2], stop the sum), never again
    #   env 1: terminated at step 1, then terminated at the LAST step (no bootstrap from next_value)
    #   env 2: truncated at the LAST step (bootstrap from next_value, nothing to chain)
    #   env 3: done at every step (one-step advantages only)
    rewards = t.tensor([[1.0, 0.5, -1.0, 2.0]] * 5) + t.arange(5.0)[:, None] * 0.25
    values = t.tensor([[0.5, -1.0, 1.5, 0.75]] * 5) * (1 + t.arange(5.0)[:, None])
    next_value = t.tensor([8.0, 8.0, 8.0, 8.0])
    terminated = t.zeros(5, 4, dtype=t.bool)
    truncated = t.zeros(5, 4, dtype=t.bool)
    truncated[1, 0] = terminated[1, 1] = terminated[4, 1] = truncated[4, 2] = True
    terminated[:, 3] = True
    dones = terminated | truncated
    _gae_case(
        compute_gae,
        "compute_gae with a truncation mid-rollout and a termination / a truncation at the last step",
        rewards,
        values,
        next_value,
        terminated,
        dones,
        0.9,
        0.5,
    )
    one = (rewards[:1], values[:1], next_value, terminated[:1], dones[:1], 0.9, 0.5)
    _gae_case(compute_gae, "compute_gae on a rollout of a single step", *one)
    assert_layouts(
        compute_gae,
        rewards,
        values,
        next_value,
        terminated,
        dones,
        0.9,
        0.5,
        oracle=gae_by_definition,
        what="compute_gae",
    )

    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 8), st.integers(1, 3), st.floats(0.5, 0.99), st.floats(0.0, 1.0))
    def prop(seed: int, steps: int, n: int, gamma: float, lam: float) -> None:
        g = _gen(seed)
        rewards, values, next_value = (
            t.randn(steps, n, generator=g),
            t.randn(steps, n, generator=g),
            t.randn(n, generator=g),
        )
        terminated = t.rand(steps, n, generator=g) < 0.25
        truncated = (t.rand(steps, n, generator=g) < 0.25) & ~terminated
        dones = terminated | truncated
        what = f"compute_gae with {steps} steps x {n} envs, gamma={gamma:.3f}, lambda={lam:.3f}"
        _gae_case(compute_gae, what, rewards, values, next_value, terminated, dones, gamma, lam)

    prop()


@learner_test
def test_normalize_advantages(normalize_advantages) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 50), st.floats(0.1, 100.0))
    def prop(seed: int, n: int, scale: float) -> None:
        adv = t.randn(n, generator=_gen(seed)) * scale + 3.0  # the shift 3 makes the mean term matter
        with unchanged("normalize_advantages(advantages)", advantages=adv):
            out = normalize_advantages(adv)
        assert_close(
            out,
            ref.normalize_advantages(adv),
            f"normalize_advantages on {n} values",
            diagnose={
                "you divided by the variance, not the standard deviation": (adv - adv.mean()) / adv.var(),
                "you forgot to subtract the mean": adv / adv.std(),
            },
        )

    prop()
    out = normalize_advantages(t.full((8,), 2.5))
    check(bool(t.isfinite(out).all()), "constant advantages gave nan or inf: add eps to the standard deviation.")
    # eps is an argument: with std 1 and eps 1, using it halves the answer; a hard-coded 1e-8 does not.
    adv = t.tensor([-1.0, 1.0, 0.0, 2.0, -2.0])
    adv = 3.0 + adv / adv.std()
    std, mean = t.std_mean(adv)
    assert_close(
        normalize_advantages(adv, eps=1.0),
        (adv - mean) / (std + 1.0),
        "normalize_advantages(advantages with std 1, eps=1.0)",
        diagnose={"you ignored the `eps` argument (a hard-coded 1e-8?): divide by std + eps": (adv - mean) / std},
    )
    assert_layouts(
        normalize_advantages,
        adv,
        oracle=lambda a: (a - a.mean()) / (a.std() + 1e-8),
        what="normalize_advantages",
    )


@learner_test
def test_clipped_surrogate_loss(clipped_surrogate_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 40), st.floats(0.05, 0.4))
    def prop(seed: int, n: int, clip: float) -> None:
        g = _gen(seed)
        old, new, adv = t.randn(n, generator=g), None, t.randn(n, generator=g)
        new = old + 0.5 * t.randn(n, generator=g)
        with unchanged("clipped_surrogate_loss(...)", new_logprob=new, old_logprob=old, advantages=adv):
            out = clipped_surrogate_loss(new, old, adv, clip)
        assert_shape(out, (), "clipped_surrogate_loss (a scalar)")
        ratio = (new - old).exp()
        clipped = ratio.clamp(1 - clip, 1 + clip)
        assert_close(
            out,
            ref.clipped_surrogate_loss(new, old, adv, clip),
            "clipped_surrogate_loss",
            diagnose={
                "you returned the objective, not its negation (we minimise the loss)": -ref.clipped_surrogate_loss(
                    new, old, adv, clip
                ),
                "you took the min of the two negated terms: the loss must be the max (the objective's min)": t.min(
                    -adv * ratio, -adv * clipped
                ).mean(),
                "there is no clipping at all": (-adv * ratio).mean(),
                "only the clipped term is used: the min with the unclipped term is what makes it pessimistic": (
                    -adv * clipped
                ).mean(),
                "the ratio is new_logprob / old_logprob; it should be exp(new_logprob - old_logprob)": t.max(
                    -adv * new / old, -adv * (new / old).clamp(1 - clip, 1 + clip)
                ).mean(),
            },
        )

    prop()
    # Every case of the clip at once: ratios below 1 - clip, inside, and above 1 + clip, each with
    # a positive and a negative advantage. The oracle is the piecewise form of the objective: the
    # clipped ratio is used exactly where the move went "far enough" in the good direction.
    ratios = t.tensor([0.5, 0.7, 0.95, 1.0, 1.1, 1.3, 2.0]).repeat(2)
    adv = t.tensor([1.5] * 7 + [-0.75] * 7)
    old = t.linspace(-2.0, -0.5, 14)
    new = old + ratios.log()
    clip = 0.2
    clipped = ratios.clamp(1 - clip, 1 + clip)
    beyond = ((adv > 0) & (ratios > 1 + clip)) | ((adv < 0) & (ratios < 1 - clip))
    piecewise = t.where(beyond, -adv * clipped, -adv * ratios).mean()
    assert_close(
        clipped_surrogate_loss(new, old, adv, clip),
        piecewise,
        "clipped_surrogate_loss on ratios 0.5..2.0 with positive and negative advantages, clip 0.2",
        diagnose={
            "you took the min of the two negated terms: the loss must be the max (the objective's min)": t.min(
                -adv * ratios, -adv * clipped
            ).mean(),
            "only the clipped term is used: the min with the unclipped term is what makes it pessimistic": (
                -adv * clipped
            ).mean(),
            "the ratio is inverted: it is exp(new_logprob - old_logprob)": t.max(
                -adv / ratios, -adv * (1 / ratios).clamp(1 - clip, 1 + clip)
            ).mean(),
        },
    )
    assert_layouts(
        lambda n_, o_, a_: clipped_surrogate_loss(n_, o_, a_, clip),
        new,
        old,
        adv,
        oracle=lambda n_, o_, a_: ref.clipped_surrogate_loss(n_, o_, a_, clip),
        what="clipped_surrogate_loss",
    )
    # The clip must bite on the right side only: a positive advantage with ratio above 1 + clip
    # gives no gradient, a negative one does.
    old = t.zeros(2)
    new = t.full((2,), math.log(1.5), requires_grad=True)
    clipped_surrogate_loss(new, old, t.tensor([1.0, -1.0]), 0.2).backward()
    check(new.grad is not None, "the loss is not differentiable with respect to new_logprob.")
    check(
        abs(float(new.grad[0])) < 1e-8 and abs(float(new.grad[1])) > 1e-3,
        "with ratio 1.5 and clip 0.2, a positive advantage should get zero gradient (the clip bites) and a negative "
        f"one a non-zero gradient (moving the wrong way is never clipped); got gradients {new.grad.tolist()}.",
    )


@learner_test
def test_clipped_value_loss(clipped_value_loss) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 40), st.floats(0.05, 0.5))
    def prop(seed: int, n: int, clip: float) -> None:
        g = _gen(seed)
        old, ret = t.randn(n, generator=g), t.randn(n, generator=g)
        new = old + t.randn(n, generator=g)
        with unchanged("clipped_value_loss(...)", new_values=new, old_values=old, returns=ret):
            out = clipped_value_loss(new, old, ret, clip)
        assert_shape(out, (), "clipped_value_loss (a scalar)")
        clipped = old + (new - old).clamp(-clip, clip)
        assert_close(
            out,
            ref.clipped_value_loss(new, old, ret, clip),
            "clipped_value_loss",
            diagnose={
                "the value loss is not clipped": 0.5 * ((new - ret) ** 2).mean(),
                "you took the min of the two squared errors, not the max": 0.5
                * t.min((new - ret) ** 2, (clipped - ret) ** 2).mean(),
                "the factor 1/2 is missing": t.max((new - ret) ** 2, (clipped - ret) ** 2).mean(),
                "you clipped the new value itself to [-clip, clip], not its change from the old value": 0.5
                * t.max((new - ret) ** 2, (new.clamp(-clip, clip) - ret) ** 2).mean(),
            },
        )

    prop()
    # Both branches of the max, case by case (clip 0.2, old value 0): a new value inside the clip
    # range (both errors equal), one moved past the clip away from the return (unclipped error
    # larger), and one moved past the clip towards the return (clipped error larger: the critic
    # may not jump to the target in one update). Each branch moves the loss by more than 0.1.
    new = t.tensor([0.1, 1.0, -1.0, 1.5, -0.5])
    old = t.zeros(5)
    ret = t.tensor([0.5, -1.0, 0.5, 2.0, -3.0])
    clipped = old + (new - old).clamp(-0.2, 0.2)
    per_case = t.where((clipped - ret).abs() > (new - ret).abs(), (clipped - ret) ** 2, (new - ret) ** 2)
    assert_close(
        clipped_value_loss(new, old, ret, 0.2),
        0.5 * per_case.mean(),
        "clipped_value_loss with new values inside the clip range, past it away from the return and past it "
        "towards the return (clip 0.2)",
        diagnose={
            "you took the min of the two squared errors, not the max": 0.5
            * t.min((new - ret) ** 2, (clipped - ret) ** 2).mean(),
            "the value loss is not clipped": 0.5 * ((new - ret) ** 2).mean(),
            "you clipped around the returns, not around the old values": 0.5
            * t.max((new - ret) ** 2, ((new - ret).clamp(-0.2, 0.2)) ** 2).mean(),
        },
    )


def _minibatch(seed: int, n: int) -> ref.Minibatch:
    g = _gen(seed)
    obs = t.randn(n, 4, generator=g)
    logprobs = -t.rand(n, generator=g) - 0.5
    return ref.Minibatch(
        obs=obs,
        actions=t.randint(0, 2, (n,), generator=g),
        logprobs=logprobs,
        values=t.randn(n, generator=g),
        advantages=t.randn(n, generator=g) * 3 + 1,
        returns=t.randn(n, generator=g),
    )


@learner_test
def test_ppo_loss(ppo_loss) -> None:
    # Every coefficient differs from the default in some case (vf_coef 0.3 and clip_coef 0.35 in
    # the last), so an implementation that hard-codes 0.5 or 0.2 fails; ent_coef 0.05 times an
    # entropy of ~log 2 moves the loss by ~0.03, far above the tolerance.
    for seed, norm_adv, clip_vloss, vf_coef, clip_coef in (
        (0, True, True, 0.5, 0.2),
        (1, False, True, 0.5, 0.2),
        (2, True, False, 0.5, 0.2),
        (3, True, True, 0.3, 0.35),
    ):
        args = ref.PPOArgs(
            norm_adv=norm_adv,
            clip_vloss=clip_vloss,
            ent_coef=0.05,
            vf_coef=vf_coef,
            clip_coef=clip_coef,
            total_timesteps=512,
        )
        mb = _minibatch(seed, 32)
        t.manual_seed(seed)
        agent = ref.Agent(4, 2)
        with unchanged("ppo_loss(agent, mb, args)", agent=agent, mb=mb._asdict()):
            got = ppo_loss(agent, mb, args)
        check(isinstance(got, tuple) and len(got) == 2, "ppo_loss must return a pair (loss, stats).")
        loss, stats = got
        want, want_stats = ref.ppo_loss(agent, mb, args)
        what = f"ppo_loss with norm_adv={norm_adv}, clip_vloss={clip_vloss}, vf_coef={vf_coef}, clip_coef={clip_coef}"
        _, _, entropy, _ = agent.get_action_and_value(mb.obs, mb.actions)
        assert_close(
            loss,
            want,
            what,
            diagnose={
                "the entropy bonus has the wrong sign: subtract ent_coef * entropy (entropy is rewarded)": want
                + 2 * args.ent_coef * entropy.mean(),
            },
        )
        check(loss.requires_grad, f"{what}: the loss has no gradient; do not compute it under no_grad or with .item().")
        # Every term must also reach the parameters: a term added as a float (`stats["entropy"]`)
        # has the right value and no gradient.
        params = list(agent.parameters())
        grads = t.autograd.grad(loss, params, allow_unused=True)
        want_grads = t.autograd.grad(want, params, retain_graph=True)
        no_entropy = t.autograd.grad(want + args.ent_coef * entropy.mean(), params, allow_unused=True)
        for (name, _), g, w, ne in zip(agent.named_parameters(), grads, want_grads, no_entropy):
            assert_close(
                t.zeros_like(w) if g is None else g,
                w,
                f"{what}: the gradient of the loss with respect to agent.{name}",
                diagnose={
                    "the entropy term has no gradient: subtract ent_coef * entropy.mean() as a tensor, not the "
                    "float logged in the stats (`.item()` makes it a constant)": t.zeros_like(w) if ne is None else ne
                },
                atol=1e-6,
            )
        missing = {"policy_loss", "value_loss", "entropy", "approx_kl"} - set(stats)
        check(not missing, f"{what}: the stats dict lacks {sorted(missing)}.")
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl"):
            assert_close(t.tensor(float(stats[key])), t.tensor(want_stats[key]), f"{what}: stats['{key}']")


@learner_test
def test_minibatch_indices(minibatch_indices) -> None:
    for batch_size, k in ((512, 4), (509, 4), (10, 3), (7, 7)):
        parts = minibatch_indices(batch_size, k, t.Generator().manual_seed(0))
        check(len(parts) == k, f"minibatch_indices({batch_size}, {k}) gave {len(parts)} minibatches, expected {k}.")
        flat = t.cat(list(parts))
        check(
            sorted(flat.tolist()) == list(range(batch_size)),
            f"minibatch_indices({batch_size}, {k}) does not use every index exactly once: "
            "sample without replacement (a permutation), not with randint.",
        )
        sizes = [len(p) for p in parts]
        check(max(sizes) - min(sizes) <= 1, f"minibatch sizes {sizes} are uneven: split into near-equal parts.")
    a = t.cat(list(minibatch_indices(100, 4, t.Generator().manual_seed(1))))
    b = t.cat(list(minibatch_indices(100, 4, t.Generator().manual_seed(1))))
    c = t.cat(list(minibatch_indices(100, 4, t.Generator().manual_seed(2))))
    check(
        not bool((a == t.arange(100)).all()),
        "the indices are not shuffled: every epoch would see the same minibatches.",
    )
    check(
        bool((a == b).all()) and not bool((a == c).all()),
        "draw the permutation from `generator`, so a seed reproduces it.",
    )


@learner_test
def test_annealed_lr(annealed_lr) -> None:
    for num_updates, lr in ((1, 1e-3), (10, 2.5e-4), (390, 2.5e-4)):
        got = [annealed_lr(u, num_updates, lr) for u in range(num_updates)]
        want = [ref.annealed_lr(u, num_updates, lr) for u in range(num_updates)]
        check(math.isclose(got[0], lr), f"the first update (0) should use the full learning rate {lr}, got {got[0]}.")
        check(
            got[-1] > 0,
            f"the last update ({num_updates - 1}) has learning rate {got[-1]}: it should be lr / num_updates, never 0 "
            "(an off-by-one in the fraction).",
        )
        assert_close(t.tensor(got), t.tensor(want), f"annealed_lr over {num_updates} updates", rtol=1e-6, atol=1e-12)


def _sweep_log(i: int, j: int, solves: bool) -> EpisodeLog:
    """The episode log of the fake run for value number i and seed number j.

    It opens with one lucky 500-return episode (a single episode is not a 20-episode mean), and
    solves later at a step that differs for every (i, j); unless `solves` is False.
    """
    returns = [500.0] + [20.0] * (5 + 7 * i + 3 * j)
    returns += [300.0, 480.0] * 20 + [500.0] * 25 if solves else [300.0] * 30
    return EpisodeLog(
        returns=returns, lengths=[int(r) for r in returns], steps=[100 * (k + 1) for k in range(len(returns))]
    )


class _FakeTrainer:
    """Stands in for `train_ppo`: records every PPOArgs it is given and returns a run whose log
    tells which (value, seed) it was trained with. Its `global_step` (the steps run) is far beyond
    any solving step. The run for the last value and the last seed never solves."""

    STEPS_RUN = 10**6

    def __init__(self, setting: str, values: list, seeds: list[int]) -> None:
        self.setting, self.values, self.seeds = setting, values, seeds
        self.calls: list[ref.PPOArgs] = []

    def index(self, value, seed: int) -> tuple[int, int]:
        i = self.values.index(value) if value in self.values else len(self.values)
        j = self.seeds.index(seed) if seed in self.seeds else len(self.seeds)
        return i, j

    def log(self, value, seed: int) -> EpisodeLog:
        i, j = self.index(value, seed)
        return _sweep_log(i, j, solves=(i, j) != (len(self.values) - 1, len(self.seeds) - 1))

    def __call__(self, args: ref.PPOArgs) -> ref.PPOResult:
        self.calls.append(args)
        log = self.log(getattr(args, self.setting, None), getattr(args, "seed", None))
        return ref.PPOResult(agent=None, log=log, global_step=self.STEPS_RUN, seconds=1.0)  # type: ignore[arg-type]


@learner_test
def test_sweep(sweep) -> None:
    base = ref.PPOArgs(seed=99, total_timesteps=4096, gae_lambda=0.7)
    fields = ("env_id", "total_timesteps", "gae_lambda", "num_steps", "learning_rate", "clip_coef", "update_epochs")
    for setting, values, seeds, threshold in (
        ("gae_lambda", [0.5, 0.9, 1.0], [3, 7], 475.0),
        ("num_steps", [16, 64], [0, 1, 2], 390.0),
    ):
        trainer = _FakeTrainer(setting, values, seeds)
        what = f"sweep(train, base, {setting!r}, {values}, {seeds}, threshold={threshold})"
        got = sweep(trainer, base, setting, values, seeds, threshold)
        check(got is not None, f"{what} returned None: did you forget to `return` the dict?")
        check(
            isinstance(got, dict) and list(got) == values,
            f"{what} should return a dict keyed by the values {values}, in that order; got {got!r}.",
        )
        check(
            len(trainer.calls) == len(values) * len(seeds),
            f"{what} trained {len(trainer.calls)} times; expected one run per value and seed, "
            f"{len(values) * len(seeds)} in all.",
        )
        for args in trainer.calls:
            check(
                isinstance(args, ref.PPOArgs),
                f"{what} passed a {type(args).__name__} to train; pass a PPOArgs, e.g. replace(base, ...).",
            )
            check(
                args.seed in seeds,
                f"{what} trained with seed {args.seed}, which is not one of {seeds}: give each run its seed "
                "(every run with base's seed measures one seed only, however many you asked for).",
            )
            changed = sorted(f for f in fields if f != setting and getattr(args, f) != getattr(base, f))
            check(not changed, f"{what} also changed {changed}: change only `{setting}` and the seed.")
        ran = sorted(trainer.index(getattr(a, setting), a.seed) for a in trainer.calls)
        check(
            ran == sorted((i, j) for i in range(len(values)) for j in range(len(seeds))),
            f"{what} did not train each (value, seed) pair exactly once.",
        )
        for value in values:
            want = [trainer.log(value, seed).first_step_reaching(threshold) for seed in seeds]
            per_seed = got[value]
            check(
                isinstance(per_seed, list) and len(per_seed) == len(seeds),
                f"{what}[{value}] should be a list with one entry per seed ({len(seeds)}); got {per_seed!r}.",
            )
            hint = ""
            if _FakeTrainer.STEPS_RUN in per_seed:
                hint = " You reported the steps the run took (global_step), not the step at which it solved."
            elif 100 in per_seed:
                hint = " You took the first single episode above the threshold, not the mean of the last 20."
            check(
                per_seed == want,
                f"{what}[{value}] is {per_seed}; expected {want}: for each seed, in the order of `seeds`, the first "
                f"step at which the mean of the last 20 returns reached {threshold} "
                f"(`log.first_step_reaching(threshold)`), or None if the run never did.{hint}",
            )
