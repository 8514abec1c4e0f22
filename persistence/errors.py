"""The errors every store raises, in a module of their own so that the core store, each
feature's store and the database drivers can all build on them without importing each other."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the errors a store raises for a request that cannot be carried out."""


class NotFound(StoreError):
    """The record named (a building, user, group, message…) does not exist."""
