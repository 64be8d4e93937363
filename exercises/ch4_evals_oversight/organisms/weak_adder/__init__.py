"""weak_adder: the weak model that section 4.2's password-locked organism imitates (see train.py)."""
