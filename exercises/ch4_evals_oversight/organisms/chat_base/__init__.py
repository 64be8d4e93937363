"""The chat_base organism (see train.py)."""
