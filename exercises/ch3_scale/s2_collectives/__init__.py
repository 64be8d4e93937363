"""Section 3.2: collective communication from scratch."""
