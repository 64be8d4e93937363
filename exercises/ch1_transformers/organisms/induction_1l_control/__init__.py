"""The 1-layer control for the induction organism: same data and training, one layer."""
