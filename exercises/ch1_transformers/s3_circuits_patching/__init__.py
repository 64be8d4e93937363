"""Section 1.3: finding the indirect-object circuit of a small trained model by patching."""
