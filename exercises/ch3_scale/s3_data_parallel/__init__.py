"""Section 3.3: data parallelism from scratch."""
