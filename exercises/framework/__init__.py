"""The machinery every section runs on: sources, generation, learner tests, checking, progress."""
