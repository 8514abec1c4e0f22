"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations).

Hashing takes tens of milliseconds of CPU by design; it runs in a worker thread so the event loop
keeps serving messages while someone logs in.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id
# Verified against when the username does not exist, so a wrong name costs as long as a wrong
# password and response times do not tell which names are taken.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 128


async def hash_password(password: str, *, in_thread: bool = True) -> str:
    if in_thread:
        return await asyncio.to_thread(_hasher.hash, password)
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(
    password_hash: str | None, password: str, *, in_thread: bool = True
) -> bool:
    """True when ``password`` matches; a None hash (no such user) is never a match but takes as
    long to refuse."""
    if in_thread:
        return await asyncio.to_thread(_verify, password_hash, password)
    return _verify(password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
