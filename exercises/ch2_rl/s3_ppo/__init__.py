"""Section 2.3: proximal policy optimisation on CartPole-v1."""
