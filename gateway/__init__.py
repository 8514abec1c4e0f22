"""The WebSocket gateway: wire codec, codes, connections, fan-out and recovery."""
