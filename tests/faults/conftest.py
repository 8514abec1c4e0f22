"""The fault suite runs on the end-to-end deployments (embedded: SQLite and the in-process
broker; scaled: PostgreSQL and Redis)."""

from tests.e2e.conftest import deployment, scaled

__all__ = ["deployment", "scaled"]
