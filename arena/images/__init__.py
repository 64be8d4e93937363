"""Per-chapter container images driven by the docker SDK."""
