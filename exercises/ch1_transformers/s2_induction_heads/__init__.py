"""Section 1.2: TransformerLens, and induction heads in a model this repository trains."""
