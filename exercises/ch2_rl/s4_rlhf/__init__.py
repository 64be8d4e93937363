"""Section 2.4: RLHF from first principles on a tiny character-level model."""
