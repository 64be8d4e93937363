"""Section 1.6: algorithmic puzzles, reverse-engineering small models trained on exact tasks."""
