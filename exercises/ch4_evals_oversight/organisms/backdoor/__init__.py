"""The backdoor organism (see train.py)."""
