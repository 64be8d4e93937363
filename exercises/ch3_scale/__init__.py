"""Chapter 3: training at scale from first principles, on torch.distributed."""
