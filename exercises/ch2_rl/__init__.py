"""Chapter 2: reinforcement learning, from bandits to RLHF, on Gymnasium 1.x."""
