"""Tests for section 2.2. Call them from your notebook, e.g. `tests.test_td_targets(td_targets)`.

The replay tests run on `CountingEnv`, whose observation (episode, step) exposes any stored
transition that crosses an episode boundary.
"""

from __future__ import annotations

import numpy as np
import torch as t
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from exercises.ch2_rl.common import CountingEnv, boundary_crossings, first_obs, make_vec_env
from exercises.ch2_rl.s2_dqn import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, assert_shape, check, learner_test

seeds = st.integers(0, 2**16)


def _gen(seed: int) -> t.Generator:
    return t.Generator().manual_seed(seed)


@learner_test
def test_qnetwork(QNetwork) -> None:
    t.manual_seed(0)
    net = QNetwork(4, 3)
    check(isinstance(net, nn.Module), "QNetwork must subclass nn.Module.")
    x1, x2 = t.randn(6, 4, generator=_gen(1)), t.randn(6, 4, generator=_gen(2))
    out = net(x1)
    assert_shape(out, (6, 3), "QNetwork(4, 3) on a batch of 6 observations")
    with t.no_grad():
        affine_gap = float((net(x1 + x2) - net(x1) - net(x2) + net(t.zeros(6, 4))).abs().max())
    check(affine_gap > 1e-4, "QNetwork is affine in its input: put a nonlinearity (ReLU) between the linear layers.")
    sizes = sorted(p.numel() for p in net.parameters())
    want = sorted(p.numel() for p in ref.QNetwork(4, 3).parameters())
    check(sizes == want, f"the parameter sizes {sizes} differ from two hidden layers of 120 and 84 units {want}.")


@learner_test
def test_linear_schedule(linear_schedule) -> None:
    @LEARNER_SETTINGS
    @given(st.integers(1, 1000), st.floats(0.5, 1.0), st.floats(0.0, 0.2), st.integers(0, 2000))
    def prop(duration: int, start: float, end: float, step: int) -> None:
        got = linear_schedule(step, start, end, duration)
        want = ref.linear_schedule(step, start, end, duration)
        check(
            abs(got - want) < 1e-9,
            f"linear_schedule(step={step}, start_e={start:.3f}, end_e={end:.3f}, duration={duration}) = {got:.6f}, "
            f"expected {want:.6f}. It is start_e at step 0, end_e at step `duration`, and end_e forever after.",
        )

    check(abs(linear_schedule(0, 1.0, 0.05, 100) - 1.0) < 1e-12, "at step 0 epsilon must be start_e (an off-by-one?).")
    check(abs(linear_schedule(100, 1.0, 0.05, 100) - 0.05) < 1e-12, "at step `duration` epsilon must be end_e exactly.")
    check(abs(linear_schedule(50, 1.0, 0.05, 100) - 0.525) < 1e-12, "half-way, epsilon must be half-way: 0.525.")
    prop()


class _FixedQ(nn.Module):
    """Q-values that make action 2 greedy everywhere."""

    def forward(self, obs: t.Tensor) -> t.Tensor:
        return t.tensor([0.0, 1.0, 5.0, -1.0]).expand(len(obs), 4)


@learner_test
def test_epsilon_greedy_actions(epsilon_greedy_actions) -> None:
    obs = np.zeros((4000, 3), dtype=np.float32)
    for epsilon in (0.0, 0.3, 1.0):
        actions = np.asarray(epsilon_greedy_actions(_FixedQ(), obs, epsilon, 4, np.random.default_rng(0)))
        assert_shape(t.as_tensor(actions), (4000,), "epsilon_greedy_actions on 4000 environments")
        greedy = float((actions == 2).mean())
        want = 1 - epsilon + epsilon / 4
        check(
            abs(greedy - want) < 0.03,
            f"with epsilon={epsilon} and 4 actions the greedy action should be taken {want:.0%} of the time "
            f"(random actions are drawn from all actions, including the greedy one), but it was {greedy:.0%}. "
            "Decide independently for each environment.",
        )
        if epsilon == 1.0:
            counts = np.bincount(actions, minlength=4) / len(actions)
            check(
                bool((np.abs(counts - 0.25) < 0.03).all()),
                f"with epsilon=1 actions should be uniform, got frequencies {counts}.",
            )
    again = np.asarray(epsilon_greedy_actions(_FixedQ(), obs[:50], 0.5, 4, np.random.default_rng(7)))
    same = np.asarray(epsilon_greedy_actions(_FixedQ(), obs[:50], 0.5, 4, np.random.default_rng(7)))
    check(bool((again == same).all()), "draw all randomness from `rng`, so that a seed reproduces the actions.")


def _fill(buffer_cls, capacity: int, count: int, seed: int = 0):
    """A buffer after `count` single-transition adds of transition i = (obs i, action i % 2, reward i, next obs i + 0.5)."""
    buffer = buffer_cls(capacity, (2,), seed)
    for i in range(1, count + 1):
        obs = np.array([[i, -i]], dtype=np.float32)
        buffer.add(obs, np.array([i % 2]), np.array([float(i)]), obs + 0.5, np.array([float(i % 3 == 0)]))
    return buffer


@learner_test
def test_replaybuffer(ReplayBuffer) -> None:
    buffer = _fill(ReplayBuffer, 50, 20)
    check(len(buffer) == 20, f"after 20 adds to a buffer of capacity 50, len(buffer) should be 20, got {len(buffer)}.")
    batch = buffer.sample(500)
    check(
        isinstance(batch, tuple) and len(batch) == 5,
        "sample must return ReplaySamples(obs, actions, rewards, next_obs, terminated).",
    )
    obs, actions, rewards, next_obs, terminated = batch
    assert_shape(obs, (500, 2), "sample(500).obs")
    assert_shape(next_obs, (500, 2), "sample(500).next_obs")
    for name, x in (("actions", actions), ("rewards", rewards), ("terminated", terminated)):
        assert_shape(x, (500,), f"sample(500).{name}")
    check(actions.dtype == t.int64, f"actions must be int64 (long) to index with gather, got {actions.dtype}.")
    ids = obs[:, 0]
    check(
        bool((ids >= 1).all()),
        "sample returned empty slots (all zeros) of a buffer that is not full: draw indices below the number stored.",
    )
    assert_close(next_obs, obs + 0.5, "sample(...).next_obs (must belong to the same transition as obs)")
    assert_close(rewards, ids, "sample(...).rewards (must belong to the same transition as obs)")
    assert_equal(actions, (ids.long() % 2), "sample(...).actions (must belong to the same transition as obs)")
    assert_close(
        terminated, (ids.long() % 3 == 0).float(), "sample(...).terminated (must belong to the same transition)"
    )
    check(len(set(ids.tolist())) == 20, "500 uniform samples from 20 transitions should hit every one of them.")

    full = _fill(ReplayBuffer, 50, 130)
    check(len(full) == 50, f"after 130 adds to a buffer of capacity 50, len(buffer) should be 50, got {len(full)}.")
    seen = set(full.sample(2000).obs[:, 0].tolist())
    check(
        seen == {float(i) for i in range(81, 131)},
        "a full buffer must hold exactly the 50 most recent transitions (overwrite the oldest, in a ring); "
        f"samples covered ids {min(seen):.0f}..{max(seen):.0f} ({len(seen)} distinct).",
    )
    a, b = _fill(ReplayBuffer, 50, 30, seed=3).sample(64), _fill(ReplayBuffer, 50, 30, seed=3).sample(64)
    check(bool(t.equal(a.obs, b.obs)), "two buffers with the same seed must sample the same batch: use a seeded rng.")


def _drive(store_step, seed: int, steps: int = 120):
    """Run 3 CountingEnvs with random actions through `store_step`; return the buffer and the step records."""
    envs = make_vec_env(lambda: CountingEnv(max_len=4), 3, seed)
    buffer = ref.ReplayBuffer(10_000, (2,), seed)
    rng = np.random.default_rng(seed)
    obs, prev_done = first_obs(envs), np.zeros(3, dtype=bool)
    real_steps = real_terminations = 0
    for _ in range(steps):
        actions = rng.integers(0, 2, 3)
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        store_step(buffer, obs, actions, rewards, next_obs, terminated, prev_done)
        real_steps += int((~prev_done).sum())
        real_terminations += int((terminated & ~prev_done).sum())
        obs, prev_done = next_obs, terminated | truncated
    return buffer, real_steps, real_terminations


def check_buffer_respects_boundaries(buffer: ref.ReplayBuffer) -> None:
    """Every stored CountingEnv transition is one step of one episode (the chapter's key property)."""
    n = len(buffer)
    obs, next_obs = buffer.obs[:n], buffer.next_obs[:n]
    crossings = boundary_crossings(obs, next_obs)
    check(
        crossings == 0,
        f"{crossings} of {n} stored transitions cross an episode boundary: these are Gymnasium 1.x's autoreset "
        "steps (the step after a done), whose next_obs belongs to a new episode. Skip environments with prev_done.",
    )
    check(bool((buffer.rewards[:n] == 1).all()), "stored rewards of 0 are autoreset steps, which must not be stored.")
    ended_odd = (buffer.terminated[:n] == 1) & (obs[:, 0] % 2 == 1)
    check(
        not bool(ended_odd.any()),
        "truncated transitions are stored as terminated: store `terminated` only, so truncations still bootstrap.",
    )


@learner_test
def test_store_step(store_step) -> None:
    for seed in (0, 1):
        buffer, real_steps, real_terminations = _drive(store_step, seed)
        check_buffer_respects_boundaries(buffer)
        check(
            len(buffer) == real_steps,
            f"{len(buffer)} transitions stored, but {real_steps} real steps happened: store every environment whose "
            "previous step did not end an episode, including the step that ends one.",
        )
        check(
            int(buffer.terminated[: len(buffer)].sum()) == real_terminations,
            "the number of stored terminated transitions does not match the terminations that happened.",
        )


@learner_test
def test_td_targets(td_targets) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 20), st.integers(2, 5), st.floats(0.5, 0.999))
    def prop(seed: int, b: int, n: int, gamma: float) -> None:
        g = _gen(seed)
        rewards, next_q = t.randn(b, generator=g), t.randn(b, n, generator=g)
        terminated = (t.rand(b, generator=g) < 0.4).float()
        out = td_targets(rewards, next_q, terminated, gamma)
        assert_shape(out, (b,), f"td_targets for a batch of {b} with {n} actions")
        assert_close(
            out,
            ref.td_targets(rewards, next_q, terminated, gamma),
            "td_targets",
            diagnose={
                "terminal states are bootstrapped: multiply by (1 - terminated)": rewards
                + gamma * next_q.max(-1).values,
                "you averaged over actions instead of taking the max": rewards
                + gamma * next_q.mean(-1) * (1 - terminated),
                "gamma is missing": rewards + next_q.max(-1).values * (1 - terminated),
            },
        )

    prop()


def _batch(seed: int, n: int = 32) -> ref.ReplaySamples:
    g = _gen(seed)
    return ref.ReplaySamples(
        t.randn(n, 4, generator=g),
        t.randint(0, 2, (n,), generator=g),
        t.randn(n, generator=g),
        t.randn(n, 4, generator=g),
        (t.rand(n, generator=g) < 0.3).float(),
    )


@learner_test
def test_dqn_loss(dqn_loss) -> None:
    for seed in range(3):
        t.manual_seed(seed)
        online, target = ref.QNetwork(4, 2), ref.QNetwork(4, 2)
        batch = _batch(seed)
        loss = dqn_loss(online, target, batch, 0.9)
        assert_shape(loss, (), "dqn_loss (a scalar)")
        with t.no_grad():
            q_all = online(batch.obs)
            y = ref.td_targets(batch.rewards, target(batch.next_obs), batch.terminated, 0.9)
            y_online = ref.td_targets(batch.rewards, online(batch.next_obs), batch.terminated, 0.9)
        taken = q_all.gather(1, batch.actions[:, None]).squeeze(1)
        assert_close(
            loss,
            ref.dqn_loss(online, target, batch, 0.9),
            "dqn_loss",
            diagnose={
                "you used max_a Q(s, a), not the Q-value of the action taken (gather with batch.actions)": (
                    (q_all.max(1).values - y) ** 2
                ).mean(),
                "the targets come from the online network: use target_network(batch.next_obs)": (
                    (taken - y_online) ** 2
                ).mean(),
                "you summed the squared errors: take the mean": ((taken - y) ** 2).sum(),
            },
        )
        loss.backward()
        check(
            all(p.grad is None or not p.grad.any() for p in target.parameters()),
            "gradient flowed into the target network: compute the targets under t.no_grad().",
        )
        check(
            any(p.grad is not None and p.grad.any() for p in online.parameters()),
            "no gradient reached the online network.",
        )


@learner_test
def test_update_target(update_target) -> None:
    for tau in (1.0, 0.25):
        t.manual_seed(0)
        online, target = ref.QNetwork(3, 2), ref.QNetwork(3, 2)
        online_before = [p.detach().clone() for p in online.parameters()]
        target_before = [p.detach().clone() for p in target.parameters()]
        update_target(target, online, tau)
        for p, o, tb in zip(target.parameters(), online_before, target_before):
            assert_close(
                p.detach(),
                tau * o + (1 - tau) * tb,
                f"a target parameter after update_target(tau={tau})",
                diagnose={"tau and 1 - tau are swapped": (1 - tau) * o + tau * tb},
            )
        for p, o in zip(online.parameters(), online_before):
            check(bool(t.equal(p.detach(), o)), "update_target changed the online network: only the target moves.")
