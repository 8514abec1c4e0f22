"""Linli (鄰里): real-time communication for a residential neighbourhood."""

__version__ = "0.1.0"
