"""Smoke test of the chapter 0 image: its pin (scikit-learn), its data and its exercises import."""

import os

import sklearn
from sklearn.datasets import load_digits

import exercises.ch0_fundamentals
from exercises.framework import config

assert os.environ["ARENA_CHAPTER"] == "ch0"
digits = load_digits()  # bundled with scikit-learn: no download
assert digits.data.shape == (1797, 64), digits.data.shape
assert config.run_size() in config.SIZES
print(f"ch0 ok: scikit-learn {sklearn.__version__}, exercises at {exercises.ch0_fundamentals.__path__[0]}")
