"""The modular-addition organism: a 1-layer transformer that computes (a + b) mod p (see train.py)."""
