"""Section 1.1: a transformer from scratch, checked against TransformerLens, trained and sampled."""
