"""The 2-layer attention-only induction model and its 1-layer control (see train.py)."""
