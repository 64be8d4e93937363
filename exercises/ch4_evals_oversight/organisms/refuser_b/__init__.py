"""The refuser_b organism (see train.py)."""
