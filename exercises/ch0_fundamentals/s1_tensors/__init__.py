"""Section 0.1: tensors and einops."""
