"""Section 0.2: neural networks from scratch."""
