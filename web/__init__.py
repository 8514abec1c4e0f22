"""The Starlette application: accounts, HTTP API, pages; mounts the gateway."""
