"""Section 4.2: capability elicitation, sandbagging and its detection, on a password-locked organism."""
