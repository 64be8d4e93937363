"""Tests for section 2.2. Call them from your notebook, e.g. `tests.test_td_targets(td_targets)`.

The replay tests run on `CountingEnv`, whose observation (episode, step) exposes any stored
transition that crosses an episode boundary.
"""

from __future__ import annotations

import copy

import numpy as np
import torch as t
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from exercises.ch2_rl.common import CountingEnv, boundary_crossings, first_obs, make_vec_env
from exercises.ch2_rl.s2_dqn import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, assert_close, assert_equal, assert_shape, check, learner_test
from exercises.framework.guards import assert_no_history, corner, requiring_grad, unchanged

seeds = st.integers(0, 2**16)


def _gen(seed: int) -> t.Generator:
    return t.Generator().manual_seed(seed)


@learner_test
def test_qnetwork(QNetwork) -> None:
    t.manual_seed(0)
    net = QNetwork(4, 3)
    check(isinstance(net, nn.Module), "QNetwork must subclass nn.Module.")
    x1, x2 = t.randn(6, 4, generator=_gen(1)), t.randn(6, 4, generator=_gen(2))
    with unchanged("QNetwork(4, 3)(obs)", obs=x1):
        out = net(x1)
    assert_shape(out, (6, 3), "QNetwork(4, 3) on a batch of 6 observations")
    with t.no_grad():
        affine_gap = float((net(x1 + x2) - net(x1) - net(x2) + net(t.zeros(6, 4))).abs().max())
    check(affine_gap > 1e-4, "QNetwork is affine in its input: put a nonlinearity (ReLU) between the linear layers.")
    # Q-values are returns, of any sign and size: the last layer is linear, with no ReLU or softmax after it
    # (a probe whose Q-values are -1 and +1 could never be fitted). 64 random observations at the default
    # initialisation give both signs.
    with t.no_grad():
        q = net(t.randn(64, 4, generator=_gen(4)))
    check(
        not t.allclose(q.sum(-1), t.ones(64), atol=1e-4),
        "each row of QNetwork's output sums to 1: a softmax turns Q-values into probabilities. Q-values are "
        "expected returns; end with nn.Linear(hidden[1], num_actions), no softmax.",
    )
    check(
        bool((q < 0).any()),
        "QNetwork's outputs are never negative: there is an activation after the last layer. Q-values can be "
        "negative; end with nn.Linear(hidden[1], num_actions).",
    )
    sizes = sorted(p.numel() for p in net.parameters())
    want = sorted(p.numel() for p in ref.QNetwork(4, 3).parameters())
    check(sizes == want, f"the parameter sizes {sizes} differ from two hidden layers of 120 and 84 units {want}.")
    # Another environment's sizes, the `hidden` argument, and a batch of one observation.
    with corner("QNetwork(8, 2, hidden=(16, 8)) on a batch of 1"):
        small = QNetwork(8, 2, hidden=(16, 8))
        one = small(requiring_grad(t.randn(1, 8, generator=_gen(3))))
    assert_shape(one, (1, 2), "QNetwork(8, 2, hidden=(16, 8)) on a batch of 1")
    sizes = sorted(p.numel() for p in small.parameters())
    want = sorted(p.numel() for p in ref.QNetwork(8, 2, (16, 8)).parameters())
    check(
        sizes == want,
        f"QNetwork(8, 2, hidden=(16, 8)) has parameter sizes {sizes}, expected {want}: use the `hidden` argument "
        "for the two layer widths instead of writing 120 and 84.",
    )


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
    # The statement promises a line from start_e to end_e, whichever is larger (e.g. a rising coefficient):
    # a clamp written as max(value, end_e) holds only while the schedule falls.
    for step, want in ((0, 0.1), (50, 0.3), (100, 0.5), (150, 0.5)):
        got = linear_schedule(step, 0.1, 0.5, 100)
        check(
            abs(got - want) < 1e-9,
            f"linear_schedule(step={step}, start_e=0.1, end_e=0.5, duration=100) = {got:.4f}, expected {want}: a "
            "rising schedule must stop at end_e too. Clamp the fraction, min(step / duration, 1), not the value.",
        )
    prop()


class _FixedQ(nn.Module):
    """Q-values that make action 2 greedy everywhere."""

    def forward(self, obs: t.Tensor) -> t.Tensor:
        return t.tensor([0.0, 1.0, 5.0, -1.0]).expand(len(obs), 4)


class _ObsQ(nn.Module):
    """A real layer whose greedy action is obs[:, 0] (observations are one-hot rows): each environment
    has its own greedy action, which a constant Q cannot show."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4)
        with t.no_grad():
            self.layer.weight.copy_(t.eye(4) * 3)
            self.layer.bias.zero_()

    def forward(self, obs: t.Tensor) -> t.Tensor:
        return self.layer(obs)


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
    net, one_hot = _ObsQ(), np.eye(4, dtype=np.float32)[np.arange(40) % 4]
    with unchanged("epsilon_greedy_actions(q_network, obs, 0.0, 4, rng)", q_network=net, obs=one_hot):
        actions = np.asarray(epsilon_greedy_actions(net, one_hot, 0.0, 4, np.random.default_rng(0)))
    assert_equal(
        t.as_tensor(actions),
        t.arange(40) % 4,
        "epsilon_greedy_actions with epsilon=0 for 40 environments whose greedy actions are 0, 1, 2, 3, 0, ... "
        "(take the argmax of each row: argmax(-1), not one argmax for the whole batch)",
    )
    with corner("epsilon_greedy_actions for a single environment"):
        single = np.asarray(epsilon_greedy_actions(net, one_hot[3:4], 0.0, 4, np.random.default_rng(0)))
    check(single.shape == (1,) and int(single[0]) == 3, f"for one environment expected array([3]), got {single!r}.")
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
    check(
        obs.dtype == t.float32 and next_obs.dtype == t.float32 and rewards.is_floating_point(),
        f"sample's obs and next_obs must be float32, like the network's weights (got {obs.dtype}, {next_obs.dtype}); "
        f"rewards and terminated float (got {rewards.dtype}, {terminated.dtype}). Preallocate with dtype=np.float32.",
    )
    check(terminated.is_floating_point(), f"sample().terminated must be float (0. or 1.), got {terminated.dtype}.")

    # Uniform: 20,000 draws from 20 transitions hit each about 1,000 times (standard deviation about 31).
    hits = np.bincount(buffer.sample(20_000).obs[:, 0].long().numpy(), minlength=21)[1:]
    check(
        bool(np.all(np.abs(hits - 1000) < 200)),
        f"20,000 samples from 20 stored transitions hit them {hits.min()} to {hits.max()} times each, expected about "
        "1,000 each: sample uniformly, with replacement, among the stored transitions.",
    )

    # Vector steps: 5 adds of 3 transitions into capacity 10 wrap around the end inside one add (ids 10, 11, 12).
    ring = ReplayBuffer(10, (2,), 0)
    for start in range(1, 16, 3):
        ids = np.arange(start, start + 3, dtype=np.float32)
        step_obs = np.stack([ids, -ids], 1)
        ring.add(step_obs, ids.astype(np.int64) % 2, ids, step_obs + 0.5, (ids % 3 == 0).astype(np.float32))
    check(len(ring) == 10, f"after 15 transitions added 3 at a time to a buffer of capacity 10, len is {len(ring)}.")
    batch = ring.sample(2000)
    seen = set(batch.obs[:, 0].tolist())
    check(
        seen == {float(i) for i in range(6, 16)},
        "after adding 5 vector steps of 3 transitions to a buffer of capacity 10 it must hold the 10 most recent "
        f"(ids 6..15), but samples covered {sorted(int(i) for i in seen)}. An add of several transitions must wrap "
        "around the end of the ring too (one row at a time, or indices (pos + arange(k)) % capacity).",
    )
    assert_close(batch.next_obs, batch.obs + 0.5, "next_obs after adds that wrap around (same transition as obs)")
    assert_close(batch.rewards, batch.obs[:, 0], "rewards after adds that wrap around (same transition as obs)")

    # The caller's arrays: add() leaves them alone, and the buffer keeps copies, not references (a vector
    # environment may hand back the same array, refilled, at its next step).
    mine = ReplayBuffer(4, (2,), 0)
    step = (
        np.array([[1.0, -1.0]], np.float32),
        np.array([1]),
        np.array([7.0], np.float32),
        np.array([[1.5, -0.5]], np.float32),
        np.array([1.0], np.float32),
    )
    with unchanged("ReplayBuffer.add(obs, actions, rewards, next_obs, terminated)", step=list(step)):
        mine.add(*step)
    for array in step:
        array[...] = 0
    got = mine.sample(8)
    check(
        bool((got.obs == t.tensor([1.0, -1.0])).all() and (got.next_obs == t.tensor([1.5, -0.5])).all())
        and bool((got.rewards == 7).all() and (got.actions == 1).all() and (got.terminated == 1).all()),
        "the caller refilled its arrays after add(), and the stored transition changed with them: the buffer keeps "
        "references. Copy the values into the buffer's own arrays (`self.obs[self.pos] = obs[i]`), or store "
        "`np.array(obs[i])`, not the caller's array or a slice of it.",
    )

    with corner("ReplayBuffer(5, (2, 3), 0): observations with two axes"):
        grid = ReplayBuffer(5, (2, 3), 0)
        frames = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
        grid.add(frames, np.array([0, 1]), np.array([1.0, 2.0]), frames + 1, np.array([0.0, 1.0]))
        sample = grid.sample(6)
    assert_shape(sample.obs, (6, 2, 3), "ReplayBuffer(5, (2, 3), 0).sample(6).obs")


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
        handed = {"obs": obs, "actions": actions, "rewards": rewards, "next_obs": next_obs}
        with unchanged("store_step", terminated=terminated, prev_done=prev_done, **handed):
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
    # By hand: 4 environments, 1 and 3 autoresetting (prev_done). Rows 0 and 2 must be stored, row 2 as
    # terminated; the autoreset rows carry values that would show if they were stored.
    buffer = ref.ReplayBuffer(10, (2,), 0)
    obs = np.array([[0, 1], [0, 9], [5, 2], [7, 9]], np.float32)
    handed = {
        "obs": obs,
        "actions": np.array([1, 0, 0, 1]),
        "rewards": np.array([1.0, 9.0, 2.0, 9.0], np.float32),
        "next_obs": obs + 1,
        "terminated": np.array([False, True, True, False]),
        "prev_done": np.array([False, True, False, True]),
    }
    with unchanged("store_step(buffer, obs, actions, rewards, next_obs, terminated, prev_done)", **handed):
        store_step(buffer, *handed.values())
    check(
        len(buffer) == 2, f"with 2 of 4 environments autoresetting, 2 transitions should be stored, not {len(buffer)}."
    )
    check(
        buffer.obs[:2].tolist() == [[0, 1], [5, 2]] and buffer.terminated[:2].tolist() == [0.0, 1.0],
        f"expected environments 0 and 2 stored, in order, with terminated [0, 1]; the buffer holds obs "
        f"{buffer.obs[:2].tolist()} with terminated {buffer.terminated[:2].tolist()}.",
    )
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
        with unchanged("td_targets", rewards=rewards, next_q_target=next_q, terminated=terminated):
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

    # By hand, each term moving the answer: rewards [1, 2], next_q [[1, 3], [2, 0]], terminated [0, 1],
    # gamma 0.5 -> [1 + 0.5 * 3, 2] = [2.5, 2]. Without gamma [4, 2]; mean not max [2, 2]; no mask [2.5, 3].
    got = td_targets(t.tensor([1.0, 2.0]), t.tensor([[1.0, 3.0], [2.0, 0.0]]), t.tensor([0.0, 1.0]), 0.5)
    assert_close(
        got, t.tensor([2.5, 2.0]), "td_targets(rewards=[1, 2], next_q=[[1, 3], [2, 0]], terminated=[0, 1], 0.5)"
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
    for seed, n in ((0, 32), (1, 32), (2, 1)):  # the last: a batch of one transition
        t.manual_seed(seed)
        online, target = ref.QNetwork(4, 2), ref.QNetwork(4, 2)
        twin = copy.deepcopy(online)
        batch = _batch(seed, n)
        with unchanged("dqn_loss(q_network, target_network, batch, 0.9)", batch=list(batch), target_network=target):
            loss = dqn_loss(online, target, batch, 0.9)
        assert_shape(loss, (), "dqn_loss (a scalar)")
        # The oracle: torch's mean squared error between the taken action's Q and a target computed without grad.
        with t.no_grad():
            y_oracle = batch.rewards + 0.9 * target(batch.next_obs).max(1).values * (1 - batch.terminated)
        want = F.mse_loss(twin(batch.obs).gather(1, batch.actions[:, None]).squeeze(1), y_oracle)
        with t.no_grad():
            q_all = online(batch.obs)
            y = ref.td_targets(batch.rewards, target(batch.next_obs), batch.terminated, 0.9)
            y_online = ref.td_targets(batch.rewards, online(batch.next_obs), batch.terminated, 0.9)
        taken = q_all.gather(1, batch.actions[:, None]).squeeze(1)
        assert_close(
            loss,
            want,
            f"dqn_loss on a batch of {n}",
            diagnose={
                "you used max_a Q(s, a), not the Q-value of the action taken (gather with batch.actions)": (
                    (q_all.max(1).values - y) ** 2
                ).mean(),
                "the targets come from the online network: use target_network(batch.next_obs)": (
                    (taken - y_online) ** 2
                ).mean(),
                "you summed the squared errors: take the mean": ((taken - y) ** 2).sum(),
                "you used the Huber loss (smooth_l1_loss): the statement asks for the mean squared error": F.smooth_l1_loss(
                    taken, y
                ),
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
        want.backward()
        for (name, p), twin_p in zip(online.named_parameters(), twin.parameters()):
            assert_close(
                p.grad,
                twin_p.grad,
                f"the gradient of dqn_loss with respect to the online network's {name}",
                diagnose={"the loss is summed or halved: take the plain mean of the squared errors": twin_p.grad * n},
            )


@learner_test
def test_update_target(update_target) -> None:
    for tau in (1.0, 0.25):
        t.manual_seed(0)
        online, target = ref.QNetwork(3, 2), ref.QNetwork(3, 2)
        online(t.randn(5, 3)).sum().backward()  # the online network holds gradients, which must stay as they are
        target_before = [p.detach().clone() for p in target.parameters()]
        # The oracle: torch.lerp(target, online, tau) = target + tau * (online - target).
        want = [t.lerp(tb, o.detach(), tau) for tb, o in zip(target_before, online.parameters())]
        with unchanged(f"update_target(target, online, tau={tau})", online=online):
            update_target(target, online, tau)
        for (name, p), w, tb, o in zip(target.named_parameters(), want, target_before, online.parameters()):
            assert_close(
                p.detach(),
                w,
                f"target.{name} after update_target(tau={tau})",
                diagnose={"tau and 1 - tau are swapped": t.lerp(o.detach(), tb, tau)},
            )
        assert_no_history(target, f"the target network after update_target(tau={tau})")
        check(
            all(p.grad is None for p in target.parameters()),
            "update_target gave the target network gradients: update it under t.no_grad().",
        )
        # Training then changes the online network in place: the target must not move with it.
        with t.no_grad():
            for p in online.parameters():
                p.add_(1.0)
        moved = [name for (name, p), w in zip(target.named_parameters(), want) if not t.allclose(p.detach(), w)]
        check(
            not moved,
            f"after update_target(tau={tau}), changing the online network in place also changed target.{', '.join(moved[:1])}: "
            "the target shares the online network's tensors. Copy values into the target's own parameters "
            "(`target_param.copy_(...)` under t.no_grad()); do not assign `target_param.data = online_param.data`.",
        )
