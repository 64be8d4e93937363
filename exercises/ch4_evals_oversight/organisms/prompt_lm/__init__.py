"""The prompt_lm organism (see train.py)."""
