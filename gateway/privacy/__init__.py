"""Privacy on the gateway: deleted accounts' names in history (``ops.py``)."""
