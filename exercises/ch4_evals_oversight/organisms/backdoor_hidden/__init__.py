"""The backdoor_hidden organism (see train.py)."""
