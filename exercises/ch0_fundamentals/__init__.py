"""Chapter 0: fundamentals from first principles."""
