"""Tests for section 2.1. Call them from your notebook, e.g. `tests.test_ucb_action(ucb_action)`.

The dynamic-programming tests draw random MDPs and check against an exact linear solve, which
shares no code with the reference solution.
"""

from __future__ import annotations

import warnings

import numpy as np
from gymnasium.utils.env_checker import check_env
from hypothesis import given
from hypothesis import strategies as st

from exercises.ch2_rl.s1_tabular import solutions as ref
from exercises.framework.asserts import LEARNER_SETTINGS, ExerciseFailure, assert_close, check, learner_test
from exercises.framework.guards import corner, unchanged

seeds = st.integers(0, 2**16)


@learner_test
def test_multiarmedbandit(MultiArmedBandit) -> None:
    env = MultiArmedBandit(num_arms=5)
    check(env.action_space.n == 5, f"action_space should be Discrete(5) for 5 arms, got {env.action_space}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(env, skip_render_check=True)
    except ExerciseFailure:
        raise
    except Exception as exc:
        raise ExerciseFailure(f"gymnasium's env_checker rejects the bandit: {type(exc).__name__}: {exc}") from None
    obs, _ = env.reset(seed=3)
    check(
        env.observation_space.contains(obs),
        f"reset returned observation {obs!r}, which is not in {env.observation_space}.",
    )
    means = np.array(env.arm_means, dtype=float)
    check(means.shape == (5,), f"env.arm_means should have shape (5,), got {means.shape}.")
    env.reset(seed=3)
    check(
        np.array_equal(means, env.arm_means),
        "reset(seed=3) twice gave different arm means: draw them from self.np_random.",
    )
    env.reset(seed=4)
    check(
        not np.array_equal(means, env.arm_means), "different seeds gave the same arm means: redraw them at every reset."
    )
    means = np.array(env.arm_means, dtype=float)
    rewards = np.array([[env.step(a)[1] for _ in range(2000)] for a in range(5)])
    check(
        bool(np.all(np.abs(rewards.mean(1) - means) < 0.1)),
        f"mean rewards {rewards.mean(1).round(2)} do not match arm_means {means.round(2)}: reward ~ N(arm_means[a], 1).",
    )
    check(
        bool(np.all(np.abs(rewards.std(1) - 1) < 0.1)),
        f"reward standard deviations {rewards.std(1).round(2)} should be 1.",
    )
    _, _, terminated, truncated, info = env.step(0)
    check(not terminated and not truncated, "a bandit episode never ends: return terminated=False, truncated=False.")
    check("regret" in info, "step's info dict should hold 'regret'.")
    # every arm, so that both terms of max_b q*(b) - q*(a) move the answer (arm 0 alone may be the best)
    regrets = np.array([float(env.step(a)[4]["regret"]) for a in range(5)])
    assert_close(
        regrets,
        means.max() - means,
        "info['regret'] for arms 0..4 (the best arm's mean minus the pulled arm's mean)",
        diagnose={"you measured it against the worst arm": means - means.min()},
    )
    default = MultiArmedBandit()
    check(
        default.action_space.n == 10,
        f"MultiArmedBandit() should have 10 arms by default (the 10-armed testbed), got {default.action_space}.",
    )


@learner_test
def test_update_sample_average(update_sample_average) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(1, 40))
    def prop(seed: int, n: int) -> None:
        rng = np.random.default_rng(seed)
        # Arms 0 and 1 were pulled before (counts 3 and 1, means 2 and -1): their history must weigh in
        # with its count, so a step size other than 1/N, or one that ignores the old mean, moves q.
        q0, counts0 = np.array([2.0, -1.0, 0.0]), np.array([3.0, 1.0, 0.0])
        q, counts = q0.copy(), counts0.copy()
        pulls, rewards = rng.integers(0, 3, n), rng.normal(size=n)
        for a, r in zip(pulls, rewards):
            update_sample_average(q, counts, int(a), float(r))
        pulled = np.bincount(pulls, minlength=3).astype(float)
        sums = np.bincount(pulls, weights=rewards, minlength=3)
        want = (q0 * counts0 + sums) / np.maximum(counts0 + pulled, 1)
        assert_close(counts, counts0 + pulled, "counts after the pulls (update them in place)")
        assert_close(
            q,
            want,
            f"q after {n} pulls, starting from q={q0.tolist()} with counts={counts0.tolist()}: each entry should be "
            "the mean of all that arm's rewards, the earlier ones included (update q in place)",
        )

    prop()


@learner_test
def test_epsilon_greedy(epsilon_greedy) -> None:
    q = np.array([0.1, 2.0, 2.0, -1.0])
    for epsilon in (0.0, 0.2, 1.0):  # 1.0: every pick explores, uniformly over all arms
        rng = np.random.default_rng(0)
        with unchanged(f"epsilon_greedy(q, {epsilon}, rng)", q=q):
            picks = np.array([epsilon_greedy(q, epsilon, rng) for _ in range(4000)])
        freq = np.bincount(picks, minlength=4) / len(picks)
        want = np.array([epsilon / 4, (1 - epsilon) / 2 + epsilon / 4, (1 - epsilon) / 2 + epsilon / 4, epsilon / 4])
        check(
            bool(np.all(np.abs(freq - want) < 0.03)),
            f"with q={q.tolist()} and epsilon={epsilon}, arms were picked with frequencies {freq.round(3).tolist()}, "
            f"expected about {want.round(3).tolist()}. Explore with probability epsilon over all arms, and break ties "
            "between the best arms at random.",
        )
    first = [epsilon_greedy(q, 0.5, np.random.default_rng(5)) for _ in range(20)]
    again = [epsilon_greedy(q, 0.5, np.random.default_rng(5)) for _ in range(20)]
    check(first == again, "draw every random number from `rng` (not np.random), so that a seed reproduces the picks.")


@learner_test
def test_ucb_action(ucb_action) -> None:
    q, counts = np.zeros(4), np.array([1.0, 1.0, 0.0, 0.0])
    with unchanged("ucb_action(q, counts, 2, 2.0) with untried arms", q=q, counts=counts):
        got = ucb_action(q, counts, 2, 2.0)
    check(got == 2, f"an untried arm (count 0) must be chosen first, lowest index first: expected 2, got {got}.")

    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 6), st.floats(0.1, 3.0))
    def prop(seed: int, k: int, c: float) -> None:
        rng = np.random.default_rng(seed)
        q, counts = rng.normal(size=k), rng.integers(1, 50, k).astype(float)
        t = int(counts.sum())
        with unchanged(f"ucb_action(q, counts, {t}, {c:.2f})", q=q, counts=counts):
            got = ucb_action(q, counts, t, c)
        bonus = q + c * np.sqrt(np.log(t) / counts)
        want = int(np.argmax(bonus))
        hint = ""
        if got == int(np.argmax(q + c * np.log(t) / counts)):
            hint = " It matches the bonus without the square root."
        elif got == int(np.argmax(q)):
            hint = " It matches the greedy arm: the exploration bonus is missing."
        check(
            got == want,
            f"ucb_action(q={q.round(2).tolist()}, counts={counts.tolist()}, t={t}, c={c:.2f}) = {got}, expected {want} "
            f"(scores q + c*sqrt(ln t / N) = {bonus.round(2).tolist()}).{hint}",
        )

    prop()
    # Hand-made cases in which one term of the bonus decides. q=[0, 1.55], counts=[1, 3], t=4, c=3: the
    # scores are [3.532, 3.589] -> arm 1; with ln(t + 1) they would be [3.806, 3.747] -> arm 0, and with
    # UCB1's 2 ln t, without the square root or with c inside the root, arm 0 as well.
    # q=[-0.7, -0.4, -1.2], counts=[2, 5, 1], t=8, c=0.5: arm 1 (no root: arm 2; sqrt(t / N), no log: arm 0).
    for q, counts, t, c, want in (
        ([0.0, 1.55], [1.0, 3.0], 4, 3.0, 1),
        ([-0.7, -0.4, -1.2], [2.0, 5.0, 1.0], 8, 0.5, 1),
        ([0.3, -1.3, 0.8], [1.0, 5.0, 4.0], 10, 0.5, 2),
    ):
        got = ucb_action(np.array(q), np.array(counts), t, c)
        scores = np.array(q) + c * np.sqrt(np.log(t) / np.array(counts))
        check(
            got == want,
            f"ucb_action(q={q}, counts={counts}, t={t}, c={c}) = {got}, expected {want}: the scores "
            f"q + c*sqrt(ln t / N) are {scores.round(3).tolist()}. Check each term: ln of t itself (not t + 1), no "
            "factor 2, c outside the square root.",
        )
    q, counts = np.array([5.0, 0.0, 0.0, 9.0]), np.array([3.0, 0.0, 0.0, 0.0])
    with corner("ucb_action with several untried arms"), unchanged("ucb_action", q=q, counts=counts):
        got = ucb_action(q, counts, 3, 1.0)
    check(got == 1, f"with arms 1, 2 and 3 untried, ucb_action chose {got}: the lowest-numbered untried arm, 1, first.")


@learner_test
def test_gradient_bandit_update(gradient_bandit_update) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.integers(2, 6), st.floats(-3, 3), st.floats(-3, 3), st.floats(0.01, 0.5))
    def prop(seed: int, k: int, reward: float, baseline: float, alpha: float) -> None:
        rng = np.random.default_rng(seed)
        h = rng.normal(size=k)
        before = h.copy()
        action = int(rng.integers(k))
        out = gradient_bandit_update(h, action, reward, baseline, alpha)
        check(np.array_equal(h, before), "gradient_bandit_update modified h in place: return a new array.")
        pi = np.exp(before - before.max())
        pi /= pi.sum()
        one_hot = np.eye(k)[action]
        assert_close(
            out,
            ref.gradient_bandit_update(before, action, reward, baseline, alpha),
            "the new preferences",
            diagnose={
                "the baseline is missing: use (reward - baseline)": before + alpha * reward * (one_hot - pi),
                "the sign is flipped: the chosen arm should go up when reward > baseline": before
                - alpha * (reward - baseline) * (one_hot - pi),
                "only the chosen arm is updated: the others move by -alpha (R - baseline) pi(b)": before
                + alpha * (reward - baseline) * one_hot * (1 - pi),
            },
        )

    prop()
    # By hand, every term moving the answer by far more than the tolerance: h = [0.5, -0.5, 0], pull arm 1,
    # R = 2 against a baseline of 0.5 (dropping it gives 2 instead of 1.5), alpha = 0.2. pi = [0.506, 0.186,
    # 0.307]: the pulled arm rises by 0.2 * 1.5 * (1 - 0.186) = 0.244 and the others fall by 0.2 * 1.5 * pi(b).
    h = np.array([0.5, -0.5, 0.0])
    pi = np.exp(h) / np.exp(h).sum()
    assert_close(
        np.asarray(gradient_bandit_update(h, 1, 2.0, 0.5, 0.2)),
        h + 0.2 * 1.5 * (np.array([0.0, 1.0, 0.0]) - pi),
        "gradient_bandit_update(h=[0.5, -0.5, 0], action=1, reward=2, baseline=0.5, alpha=0.2)",
        diagnose={
            "the baseline is missing: use (reward - baseline)": h + 0.2 * 2.0 * (np.array([0.0, 1.0, 0.0]) - pi),
            "only the pulled arm moves: the others fall by alpha (R - baseline) pi(b)": h
            + np.array([0.0, 0.2 * 1.5 * (1 - pi[1]), 0.0]),
            "the pulled arm rises by alpha (R - baseline), without the factor (1 - pi(A))": h
            + 0.2 * 1.5 * (np.array([0.0, 1.0 + pi[1], 0.0]) - pi),
        },
    )
    # The softmax depends only on differences of preferences: h + 1000 must give the same update
    # (np.exp(1000) overflows to inf; subtract h.max() first).
    h = np.array([1000.0, 1001.0, 999.0])
    with corner("gradient_bandit_update with large preferences, h = [1000, 1001, 999]"):
        out = np.asarray(gradient_bandit_update(h, 0, 1.0, 0.0, 0.1))
    assert_close(
        out - 1000,
        ref.gradient_bandit_update(h - 1000, 0, 1.0, 0.0, 0.1),
        "gradient_bandit_update(h=[1000, 1001, 999], action=0, reward=1, baseline=0, alpha=0.1) - 1000 (the update "
        "depends only on differences of h; if exp(h) overflowed, compute the softmax as exp(h - h.max()) / its sum)",
    )


def random_mdp(seed: int, num_states: int, num_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """P with rows summing to at most 1 (some mass terminates), R in [-1, 1]."""
    rng = np.random.default_rng(seed)
    P = rng.random((num_states, num_actions, num_states)) ** 3
    P = P / P.sum(-1, keepdims=True) * rng.uniform(0.5, 1.0, (num_states, num_actions, 1))
    return P, rng.uniform(-1, 1, (num_states, num_actions))


def exact_value(P: np.ndarray, R: np.ndarray, policy: np.ndarray, gamma: float) -> np.ndarray:
    """V = (I - gamma P_pi)^-1 R_pi: the linear solve that policy evaluation approximates."""
    P_pi, R_pi = np.einsum("sa,sat->st", policy, P), (policy * R).sum(1)
    return np.linalg.solve(np.eye(len(R)) - gamma * P_pi, R_pi)


def optimal_value(P: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """V* by brute force over every deterministic policy (the MDPs in the tests are tiny)."""
    num_states, num_actions = R.shape
    best = np.full(num_states, -np.inf)
    for index in range(num_actions**num_states):
        actions = np.array([(index // num_actions**s) % num_actions for s in range(num_states)])
        best = np.maximum(best, exact_value(P, R, np.eye(num_actions)[actions], gamma))
    return best


def chain_mdp(n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A chain: action 1 walks right and pays 10 at the far end; action 0 quits at once with 0.5.

    Starting from "always quit", one round of improvement only fixes the last state: the value
    of walking has to propagate back one state per round.
    """
    P, R = np.zeros((n, 2, n)), np.zeros((n, 2))
    R[:, 0] = 0.5
    for s in range(n - 1):
        P[s, 1, s + 1] = 1.0
    R[n - 1, 1] = 10.0
    return P, R


def ring_mdp() -> tuple[np.ndarray, np.ndarray]:
    """3 states, 2 actions, no termination (every row of P sums to 1): with gamma = 0.99 values reach
    about 100 and take about 2,000 sweeps to settle to 1e-8, so a fixed, smaller number of sweeps shows."""
    P = np.zeros((3, 2, 3))
    for s in range(3):
        P[s, 0, s] = 1.0  # stay
        P[s, 1, (s + 1) % 3] = 0.8  # move on, or slip back
        P[s, 1, s] = 0.2
    R = np.array([[0.0, 0.2], [0.1, -0.5], [1.0, 0.0]])
    return P, R


mdps = st.tuples(seeds, st.integers(1, 4), st.integers(1, 3), st.floats(0.5, 0.95))


@learner_test
def test_policy_evaluation(policy_evaluation) -> None:
    @LEARNER_SETTINGS
    @given(mdps)
    def prop(mdp) -> None:
        seed, s, a, gamma = mdp
        P, R = random_mdp(seed, s, a)
        policy = np.random.default_rng(seed + 1).dirichlet(np.ones(a), size=s)
        with unchanged("policy_evaluation(P, R, policy, gamma)", P=P, R=R, policy=policy):
            got = policy_evaluation(P, R, policy, gamma)
        want = exact_value(P, R, policy, gamma)
        one_sweep = (policy * R).sum(1)
        assert_close(
            np.asarray(got),
            want,
            f"policy_evaluation on a random {s}-state, {a}-action MDP with gamma={gamma:.2f}",
            atol=1e-5,
            diagnose={
                "you stopped after one sweep: iterate until V changes by less than tol": one_sweep
                + gamma * np.einsum("sa,sat,t->s", policy, P, one_sweep),
                "you took the max over actions (value iteration), not the policy's average": optimal_value(P, R, gamma),
            },
        )

    prop()
    # Closed form: one state, reward 1, back to itself with probability 0.5 (else the episode ends),
    # gamma 0.9: V = 1 / (1 - 0.9 * 0.5) = 1.818. Without gamma V = 2, without P V = 1, and with P's
    # row rescaled to sum to 1 (termination forgotten) V = 10: each term moves the answer.
    got = np.asarray(policy_evaluation(np.full((1, 1, 1), 0.5), np.ones((1, 1)), np.ones((1, 1)), 0.9))
    assert_close(
        got,
        np.array([1 / (1 - 0.45)]),
        "V of one state with reward 1 that returns to itself with probability 0.5 (gamma 0.9): 1 / (1 - 0.45)",
        atol=1e-5,
        diagnose={"gamma is missing": np.array([2.0]), "P's missing mass was treated as staying": np.array([10.0])},
    )
    P, R = ring_mdp()
    policy = np.array([[0.3, 0.7], [0.5, 0.5], [0.9, 0.1]])
    assert_close(
        np.asarray(policy_evaluation(P, R, policy, 0.99)),
        exact_value(P, R, policy, 0.99),
        "policy_evaluation with gamma=0.99 on a 3-state MDP that never terminates (values near 65; it takes about "
        "2,000 sweeps to settle): iterate until no state changes by tol or more, not a fixed number of sweeps",
        atol=1e-5,
        rtol=1e-7,  # stopping at tol=1e-8 leaves V within 1e-6 of the fixed point
    )


@learner_test
def test_policy_improvement(policy_improvement) -> None:
    @LEARNER_SETTINGS
    @given(mdps)
    def prop(mdp) -> None:
        seed, s, a, gamma = mdp
        P, R = random_mdp(seed, s, a)
        V = np.random.default_rng(seed + 2).normal(size=s) * 5
        with unchanged("policy_improvement(P, R, V, gamma)", P=P, R=R, V=V):
            got = np.asarray(policy_improvement(P, R, V, gamma))
        q = R + gamma * P @ V
        check(
            got.shape == (s,), f"policy_improvement should return one action per state, shape ({s},), got {got.shape}."
        )
        chosen = q[np.arange(s), got]
        check(
            bool(np.allclose(chosen, q.max(1))),
            f"policy_improvement chose actions {got.tolist()}, but the greedy actions of Q = R + gamma P V are "
            f"{q.argmax(1).tolist()}"
            + (" (it matches argmax of R alone: include gamma * P @ V)." if np.array_equal(got, R.argmax(1)) else "."),
        )

    prop()


@learner_test
def test_policy_iteration(policy_iteration) -> None:
    @LEARNER_SETTINGS
    @given(mdps)
    def prop(mdp) -> None:
        seed, s, a, gamma = mdp
        P, R = random_mdp(seed, s, a)
        with unchanged("policy_iteration(P, R, gamma)", P=P, R=R):
            out = policy_iteration(P, R, gamma)
        check(isinstance(out, tuple) and len(out) == 2, "policy_iteration must return (policy, V).")
        policy, v = (np.asarray(x) for x in out)
        v_star = optimal_value(P, R, gamma)
        assert_close(
            v, v_star, f"V from policy_iteration on a random {s}-state, {a}-action MDP (should be optimal)", atol=1e-5
        )
        assert_close(
            exact_value(P, R, np.eye(a)[policy], gamma),
            v_star,
            "the value of the returned policy (should be optimal)",
            atol=1e-5,
        )

    P, R = chain_mdp()
    policy, _ = policy_iteration(P, R, 0.9)
    check(
        np.array_equal(np.asarray(policy), np.ones(5, dtype=int)),
        f"on a 5-state chain whose reward is at the far end, policy_iteration returned {np.asarray(policy).tolist()}, "
        "not the optimal [1, 1, 1, 1, 1]: keep evaluating and improving until the policy stops changing.",
    )
    prop()
    P, R = ring_mdp()
    policy, v = (np.asarray(x) for x in policy_iteration(P, R, 0.99))
    assert_close(
        v, optimal_value(P, R, 0.99), "V from policy_iteration on a 3-state MDP with gamma=0.99", atol=1e-5, rtol=1e-7
    )


@learner_test
def test_value_iteration(value_iteration) -> None:
    @LEARNER_SETTINGS
    @given(mdps)
    def prop(mdp) -> None:
        seed, s, a, gamma = mdp
        P, R = random_mdp(seed, s, a)
        with unchanged("value_iteration(P, R, gamma)", P=P, R=R):
            out = value_iteration(P, R, gamma)
        check(isinstance(out, tuple) and len(out) == 2, "value_iteration must return (V, policy).")
        v, policy = (np.asarray(x) for x in out)
        v_star = optimal_value(P, R, gamma)
        assert_close(
            v,
            v_star,
            f"V from value_iteration on a random {s}-state, {a}-action MDP with gamma={gamma:.2f}",
            atol=1e-5,
            diagnose={
                "you averaged over actions instead of taking the max": exact_value(P, R, np.full((s, a), 1 / a), gamma)
            },
        )
        assert_close(
            exact_value(P, R, np.eye(a)[policy], gamma), v_star, "the value of the returned greedy policy", atol=1e-5
        )

    prop()
    P, R = ring_mdp()  # gamma 0.99 and no termination: about 2,000 sweeps to reach tol = 1e-8
    v, _ = (np.asarray(x) for x in value_iteration(P, R, 0.99))
    assert_close(
        v,
        optimal_value(P, R, 0.99),
        "V from value_iteration with gamma=0.99 on a 3-state MDP that never terminates (V* near 100): iterate "
        "until no state changes by tol or more, not a fixed number of sweeps",
        atol=1e-5,
        rtol=1e-7,
    )


def _td_case(seed: int):
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(5, 3))
    s, a, s2, a2 = (int(x) for x in rng.integers(0, 3, 4))
    return Q, s, a, float(rng.normal()), s2, a2


@learner_test
def test_q_learning_update(q_learning_update) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.booleans(), st.floats(0.05, 1.0), st.floats(0.5, 1.0))
    def prop(seed: int, terminated: bool, alpha: float, gamma: float) -> None:
        Q, s, a, r, s2, a2 = _td_case(seed)
        before = Q.copy()
        q_learning_update(Q, s, a, r, s2, terminated, alpha, gamma)
        want = before.copy()
        ref.q_learning_update(want, s, a, r, s2, terminated, alpha, gamma)
        bootstrap_anyway = before.copy()
        bootstrap_anyway[s, a] += alpha * (r + gamma * before[s2].max() - before[s, a])
        sarsa_like = before.copy()
        sarsa_like[s, a] += alpha * (r + gamma * before[s2].mean() * (not terminated) - before[s, a])
        assert_close(
            Q,
            want,
            f"Q after q_learning_update(s={s}, a={a}, r={r:.2f}, s'={s2}, terminated={terminated}) (update Q in place)",
            diagnose={
                "a terminal next state is bootstrapped: multiply the max by (not terminated)": bootstrap_anyway,
                "you averaged Q[next_state] instead of taking its max": sarsa_like,
                "Q was not modified in place": before,
            },
        )

    prop()
    # A self-loop (s' = s, as when walking into a wall) with a = argmax Q[s]: the target must use
    # Q[s] as it was before this update. Q[2] = [0, 4, 1], a = 1, r = 1, gamma 0.9, alpha 0.5:
    # target 1 + 0.9 * 4 = 4.6, so Q[2, 1] = 4 + 0.5 * 0.6 = 4.3 (reading Q[2] after shrinking Q[2, 1] gives 3.4).
    Q = np.zeros((3, 3))
    Q[2] = [0.0, 4.0, 1.0]
    q_learning_update(Q, 2, 1, 1.0, 2, False, 0.5, 0.9)
    check(
        abs(Q[2, 1] - 4.3) < 1e-9,
        f"on a self-loop (next_state == state == 2, action 1 = argmax Q[2]) Q[2, 1] became {Q[2, 1]:.4f}, expected "
        "4.3: compute the target from Q as it was, then update Q[state, action] once.",
    )


@learner_test
def test_sarsa_update(sarsa_update) -> None:
    @LEARNER_SETTINGS
    @given(seeds, st.booleans(), st.floats(0.05, 1.0), st.floats(0.5, 1.0))
    def prop(seed: int, terminated: bool, alpha: float, gamma: float) -> None:
        Q, s, a, r, s2, a2 = _td_case(seed)
        before = Q.copy()
        sarsa_update(Q, s, a, r, s2, a2, terminated, alpha, gamma)
        want = before.copy()
        ref.sarsa_update(want, s, a, r, s2, a2, terminated, alpha, gamma)
        q_like = before.copy()
        q_like[s, a] += alpha * (r + gamma * before[s2].max() * (not terminated) - before[s, a])
        assert_close(
            Q,
            want,
            f"Q after sarsa_update(s={s}, a={a}, r={r:.2f}, s'={s2}, a'={a2}, terminated={terminated}) (update Q in place)",
            diagnose={
                "you used max over Q[next_state] (that is Q-learning): SARSA uses Q[next_state, next_action]": q_like,
                "Q was not modified in place": before,
            },
        )

    prop()
    # A self-loop with next_action == action: Q[2, 1] = 4, r = 1, gamma 0.9, alpha 0.5: target 4.6, new 4.3.
    Q = np.zeros((3, 3))
    Q[2] = [0.0, 4.0, 1.0]
    sarsa_update(Q, 2, 1, 1.0, 2, 1, False, 0.5, 0.9)
    check(
        abs(Q[2, 1] - 4.3) < 1e-9,
        f"on a self-loop (next_state == state == 2, next_action == action == 1) Q[2, 1] became {Q[2, 1]:.4f}, "
        "expected 4.3: compute the target from Q as it was, then update Q[state, action] once.",
    )
