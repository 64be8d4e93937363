"""Section 1.4: probing and inference-time intervention."""
