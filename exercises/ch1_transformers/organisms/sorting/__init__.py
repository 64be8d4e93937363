"""The sorting organism: a 1-layer attention-only transformer that writes a list in increasing order (see train.py)."""
