"""The admin console's part of every gateway process: its run-time settings (``ops.py``)."""
