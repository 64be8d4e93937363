"""Section 2.2: deep Q-learning, probe environments and CartPole-v1."""
