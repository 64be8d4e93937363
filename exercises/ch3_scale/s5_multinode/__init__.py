"""Section 3.5: beyond one machine (launching, Slurm, checkpoints that survive a killed worker)."""
