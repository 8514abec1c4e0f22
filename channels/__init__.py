"""Channels: the Broker and WorkQueue interfaces, their memory and Redis backends, channel names
and who may use them."""
