"""The balanced-brackets organism: a 2-layer causal transformer that classifies "(" / ")" strings (see train.py)."""
