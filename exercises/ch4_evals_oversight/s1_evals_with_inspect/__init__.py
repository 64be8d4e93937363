"""Section 4.1: evaluations with Inspect, and the statistics that make their numbers defensible."""
