"""Section 2.1: bandits, dynamic programming, Q-learning and SARSA."""
