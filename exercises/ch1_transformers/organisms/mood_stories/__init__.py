"""The mood-stories organism: a 2-layer transformer that infers a story's mood from its event (see train.py)."""
