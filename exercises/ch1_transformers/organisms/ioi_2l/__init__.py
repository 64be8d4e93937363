"""A small attention-only model trained on the synthetic IOI task (see train.py)."""
