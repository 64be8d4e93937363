"""Section 3.1: memory, FLOPs, profiling, mixed precision and checkpointing on one device."""
