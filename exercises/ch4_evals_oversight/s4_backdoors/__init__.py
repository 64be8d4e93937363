"""Section 4.4: backdoors and trojans (poisoning, detection without the trigger, trigger reconstruction)."""
