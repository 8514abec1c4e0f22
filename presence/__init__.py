"""Presence: who is online in each channel, with memory and Redis backends."""
