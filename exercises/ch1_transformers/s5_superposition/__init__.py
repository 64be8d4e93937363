"""Section 1.5: superposition and sparse autoencoders."""
