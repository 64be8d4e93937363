"""Smoke test of the chapter 2 image: a CartPole step on the pinned Gymnasium."""

import os

import gymnasium as gym

assert os.environ["ARENA_CHAPTER"] == "ch2"
env = gym.make("CartPole-v1")
observation, _ = env.reset(seed=0)
assert observation.shape == (4,), observation.shape
observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
assert observation.shape == (4,) and reward == 1.0 and not truncated
env.close()
print(f"ch2 ok: gymnasium {gym.__version__}")
