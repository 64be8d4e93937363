"""Section 3.4: sharding the model and optimiser (ZeRO, FSDP, tensor and pipeline parallelism)."""
