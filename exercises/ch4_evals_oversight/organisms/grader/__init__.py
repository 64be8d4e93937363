"""The grader organism (see train.py)."""
