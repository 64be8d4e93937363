"""password_locked: section 4.2's sandbagging organism (see train.py)."""
