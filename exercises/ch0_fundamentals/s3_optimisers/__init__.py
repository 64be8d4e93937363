"""Section 0.3: optimisers and learning-rate schedules."""
