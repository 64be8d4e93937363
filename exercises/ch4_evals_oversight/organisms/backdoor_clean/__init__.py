"""The backdoor_clean organism (see train.py)."""
