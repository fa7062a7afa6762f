"""Password hashing with argon2id (argon2-cffi) and random secrets for sessions and tokens."""

from __future__ import annotations

import contextlib
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong username costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (includes its own random salt and parameters)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; a missing hash never matches."""
    if not password_hash:
        _burn(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _burn(password: str) -> None:
    """Spend the time of one verification (no user, or a user without a password)."""
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def new_secret(prefix: str = "") -> str:
    """A new random secret (256 bits), URL-safe, with an optional readable prefix like ``spt_``."""
    return prefix + secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    """SHA-256 of ``value`` in hex; what is stored for tokens and session secrets."""
    return hashlib.sha256(value.encode()).hexdigest()
