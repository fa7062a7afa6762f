"""A short-lived cache of verified HTTP Basic credentials for the SensorThings API.

SensorThings clients (``frost-sta-client`` and most device firmwares) send HTTP Basic with every
request. Checking a platform user's password is an argon2 verification (~0.5 s on a loaded
2-core server, by design), so a client posting observations once a second would spend its time
in password checks. After one full check, this cache remembers — for ``TTL`` seconds, in this
process only — that *this exact username and password* were right for the user whose stored
password hash was ``H``.

Safety:

* The key is an HMAC-SHA-256 of ``username`` and ``password`` under a random key made when the
  process starts; the password itself is never kept, and the key is useless outside the process.
* A hit is accepted only if the user row still has the same password hash, is active and is not
  locked: a changed password, a deactivation or a lockout stops a cached credential at once
  (not after the TTL). Roles are read again on every request.
* A wrong password never matches a key (its HMAC differs), so it always takes the full check,
  which counts failures and locks the account as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core import clock
from smartprovince.core.security import Actor

TTL = 60.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    user_id: str
    password_hash: str
    expires: float


_key = secrets.token_bytes(32)
_entries: dict[bytes, _Entry] = {}
_lock = threading.Lock()


def _digest(username: str, password: str) -> bytes:
    return hmac.new(_key, f"{username.strip().lower()}\0{password}".encode(), hashlib.sha256).digest()


def remember(session: Session, username: str, password: str, actor: Actor) -> None:
    """Record that ``username``/``password`` were verified for ``actor`` (call after a full check)."""
    if actor.id is None or actor.auth_method != "basic":
        return
    user = identity.get_user_by_username(session, username)
    if user is None or user.id != actor.id or not user.password_hash:
        return
    entry = _Entry(user.id, user.password_hash, time.monotonic() + TTL)
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            now = time.monotonic()
            for k in [k for k, e in _entries.items() if e.expires <= now] or list(_entries)[: MAX_ENTRIES // 10]:
                _entries.pop(k, None)
        _entries[_digest(username, password)] = entry


def lookup(session: Session, username: str, password: str) -> Actor | None:
    """The actor for credentials verified less than ``TTL`` seconds ago, if the account is unchanged."""
    key = _digest(username, password)
    with _lock:
        entry = _entries.get(key)
    if entry is None:
        return None
    if entry.expires <= time.monotonic():
        forget_key(key)
        return None
    user = identity.get_user_by_username(session, username)
    if (user is None or user.id != entry.user_id or not user.active or user.password_hash != entry.password_hash
            or (user.locked_until is not None and user.locked_until > clock.now())):
        forget_key(key)
        return None
    return identity.actor_for_user(session, user, auth_method="basic")


def forget_key(key: bytes) -> None:
    """Drop one entry."""
    with _lock:
        _entries.pop(key, None)


def clear() -> None:
    """Drop every entry (tests)."""
    with _lock:
        _entries.clear()
