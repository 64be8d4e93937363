"""Chapter 1: transformers from scratch and their interpretability, on models this repository trains."""
