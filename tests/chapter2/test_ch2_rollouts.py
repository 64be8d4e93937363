"""Chapter 2's rollout code under Gymnasium 1.x: no stored transition crosses an episode boundary.

The reference rollouts (PPO's `collect_rollout`, DQN's `store_step`) run on `CountingEnv`, whose
observation is (episode, step); each property is also shown to catch the naive rollout that stores
the autoreset step, so the checks cannot pass vacuously.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as t

from exercises.ch2_rl.common import CountingEnv, EpisodeLog, boundary_crossings, make_vec_env
from exercises.ch2_rl.s2_dqn import mutants as dqn_mutants
from exercises.ch2_rl.s2_dqn import solutions as dqn
from exercises.ch2_rl.s2_dqn import tests as dqn_tests
from exercises.ch2_rl.s3_ppo import mutants as ppo_mutants
from exercises.ch2_rl.s3_ppo import solutions as ppo
from exercises.ch2_rl.s3_ppo import tests as ppo_tests
from exercises.framework.asserts import ExerciseFailure


def test_vector_envs_use_next_step_autoreset() -> None:
    envs = make_vec_env(lambda: CountingEnv(max_len=1), 2, seed=0)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, reward, terminated, truncated, _ = envs.step(np.zeros(2, dtype=np.int64))
    assert (terminated | truncated).all() and (reward == 1).all()
    # The step after a done is the autoreset step: new episode, reward 0, not done.
    obs2, reward2, terminated2, truncated2, _ = envs.step(np.zeros(2, dtype=np.int64))
    assert (reward2 == 0).all() and not (terminated2 | truncated2).any()
    assert (obs2[:, 0] == obs[:, 0] + 1).all() and (obs2[:, 1] == 0).all()


def test_counting_env_detects_crossings() -> None:
    a = np.array([[0.0, 1.0], [0.0, 3.0]])
    assert boundary_crossings(a, np.array([[0.0, 2.0], [1.0, 0.0]])) == 1
    assert boundary_crossings(a, a + np.array([0.0, 1.0])) == 0


@pytest.mark.parametrize(("num_steps", "calls", "seed"), [(1, 40, 0), (16, 5, 1), (128, 2, 2)])
def test_ppo_rollouts_never_cross_episode_boundaries(num_steps: int, calls: int, seed: int) -> None:
    rollouts, log = ppo_tests._rollouts(ppo.collect_rollout, num_steps, calls, seed)
    ppo_tests.check_rollouts_respect_boundaries(rollouts, num_steps)
    kept = sum(int(r.valid.sum()) for r in rollouts)
    assert 0 < kept < num_steps * calls * 3  # some steps were masked, most were kept
    assert log.returns == [float(n) for n in log.lengths]


def test_ppo_boundary_check_rejects_the_naive_rollout() -> None:
    rollouts, _ = ppo_tests._rollouts(ppo_mutants.rollout_all_valid, 16, 4, seed=0)
    with pytest.raises(ExerciseFailure, match="autoreset"):
        ppo_tests.check_rollouts_respect_boundaries(rollouts, 16)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dqn_buffer_never_stores_a_boundary_crossing(seed: int) -> None:
    buffer, real_steps, _ = dqn_tests._drive(dqn.store_step, seed, steps=300)
    dqn_tests.check_buffer_respects_boundaries(buffer)
    assert len(buffer) == real_steps
    batch = buffer.sample(256)
    assert boundary_crossings(batch.obs.numpy(), batch.next_obs.numpy()) == 0


def test_dqn_boundary_check_rejects_the_naive_buffer() -> None:
    buffer, _, _ = dqn_tests._drive(dqn_mutants.store_everything, 0, steps=100)
    with pytest.raises(ExerciseFailure, match="cross an episode boundary"):
        dqn_tests.check_buffer_respects_boundaries(buffer)


def test_gae_bootstraps_truncation_from_the_final_observation() -> None:
    # One env: step 0 ends an episode by truncation, step 1 is the autoreset step whose stored
    # value is V(final observation) = 10; with gamma 0.5 the truncated step's advantage is
    # r + 0.5 * 10 - V(s0) = 1 + 5 - 2. Termination instead drops the bootstrap: 1 - 2.
    rewards, values = t.tensor([[1.0], [0.0]]), t.tensor([[2.0], [10.0]])
    done = t.tensor([[True], [False]])
    truncated = ppo.compute_gae(rewards, values, t.tensor([0.0]), ~done, done, 0.5, 0.9)
    terminated = ppo.compute_gae(rewards, values, t.tensor([0.0]), done, done, 0.5, 0.9)
    assert truncated[0, 0].item() == pytest.approx(4.0)
    assert terminated[0, 0].item() == pytest.approx(-1.0)


def test_episode_log_reports_first_solving_step() -> None:
    log = EpisodeLog(returns=[10.0] * 19 + [500.0] * 25, lengths=[1] * 44, steps=list(range(1, 45)))
    assert log.first_step_reaching(480.0, n=20) == 39  # one 10 in the window gives 475.5: the first all-500 window
    assert log.first_step_reaching(501.0) is None
    assert log.mean_last(20) == 500.0


def test_ppo_smoke_training_runs_and_logs() -> None:
    result = ppo.train_ppo(ppo.PPOArgs(total_timesteps=2048, num_steps=64))
    assert result.global_step == 2048 and result.sps > 0
    assert len(result.log.returns) > 0


def test_ppo_stops_once_solved() -> None:
    # Probe 1 pays 1 per one-step episode, so a threshold of 1 is met by the first 20 episodes.
    from exercises.ch2_rl.probes import Probe

    args = ppo.PPOArgs(total_timesteps=4096, num_envs=4, num_steps=16, stop_at_return=1.0)
    result = ppo.train_ppo(args, env=lambda: Probe(1))
    assert result.global_step == 64 and result.log.first_step_reaching(1.0) is not None


# Small enough for seconds: 1024 steps of 4 environments. gamma = 0.5 makes discounting visible
# (probe 3's first state is worth gamma, not 1).
PPO_PROBE_ARGS = ppo.PPOArgs(
    total_timesteps=1024, num_envs=4, num_steps=16, num_minibatches=1, update_epochs=4, learning_rate=3e-3, gamma=0.5
)


def _ppo_on_probe(index: int) -> tuple[np.ndarray, np.ndarray]:
    """(state values, probability of each action) at every observation of the probe, after training."""
    from exercises.ch2_rl.probes import Probe, probe_observations

    agent = ppo.train_ppo(PPO_PROBE_ARGS, env=lambda: Probe(index)).agent
    obs = t.as_tensor(probe_observations(index))
    with t.no_grad():
        return agent.get_value(obs).numpy(), agent.actor(obs).softmax(-1).numpy()


@pytest.mark.parametrize("index", [1, 2, 3, 4, 5])
def test_ppo_learns_every_probe(index: int) -> None:
    """The learning signal, probe by probe: the critic reaches the optimal values; where the action
    matters (probes 4 and 5) the actor puts almost all its probability on the best one."""
    from exercises.ch2_rl.probes import expected_q

    values, probs = _ppo_on_probe(index)
    optimal = expected_q(index, PPO_PROBE_ARGS.gamma)
    assert np.abs(values - optimal.max(-1)).max() < 0.1, (values, optimal)
    if index in (4, 5):
        best = optimal.argmax(-1)
        assert probs[np.arange(len(best)), best].min() > 0.9, probs


def test_ppo_probe_catches_a_sign_error(monkeypatch: pytest.MonkeyPatch) -> None:
    right = ppo.clipped_surrogate_loss
    monkeypatch.setattr(ppo, "clipped_surrogate_loss", lambda *args: -right(*args))
    _, probs = _ppo_on_probe(4)
    assert probs[0, 1] < 0.5  # the objective maximised as a loss: the policy learns the worse action


def test_dqn_smoke_training_runs_and_logs() -> None:
    result = dqn.train_dqn(dqn.DQNArgs(total_timesteps=800, learning_starts=200, target_network_frequency=100))
    assert result.global_step == 800 and len(result.log.returns) > 0


@pytest.mark.slow
@pytest.mark.parametrize("index", [1, 2, 3, 4, 5])
def test_dqn_solves_every_probe(index: int) -> None:
    from exercises.ch2_rl.probes import Probe, expected_q, probe_observations

    args = dqn.DQNArgs(
        total_timesteps=3_000,
        learning_rate=2e-3,
        buffer_size=1_000,
        batch_size=64,
        learning_starts=100,
        train_frequency=1,
        target_network_frequency=50,
        exploration_fraction=0.3,
    )
    q_net = dqn.train_dqn(args, env=lambda: Probe(index)).q_network
    with t.no_grad():
        got = q_net(t.as_tensor(probe_observations(index))).numpy()
    assert np.abs(got - expected_q(index, args.gamma)).max() < 0.1
