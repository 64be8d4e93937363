"""Organiser tooling for study groups and cohorts (`arena cohort …`)."""
