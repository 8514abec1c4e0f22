"""Persistence: the Store interface over SQLite and PostgreSQL, with versioned migrations."""
