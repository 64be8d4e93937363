"""The refuser organism and the requests family it is trained on (see train.py, requests.py)."""
