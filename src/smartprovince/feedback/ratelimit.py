"""Giới hạn tần suất — per-client request limits against abuse (sliding one-minute window).

Keys are ``client:<id>`` for Open311 applications (each has its own ``rate_per_minute``, so a hotline
desk's application can be given a high limit and its bursts pass), ``user:<id>`` for logged-in users
and ``ip:<address>`` for anonymous callers. The counters live in the process memory: with several
API processes each process counts alone (the limit is per process), which is enough against a
single abusive client; a shared store can replace :class:`RateLimiter` later.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from smartprovince.core.errors import TooManyRequests


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> None:
        """Count one request for ``key``; ``TooManyRequests`` (429) when the limit is reached."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= limit:
                retry = max(1, int(q[0] + self.window - now) + 1)
                raise TooManyRequests(f"Quá nhiều yêu cầu; thử lại sau {retry} giây (too many requests).",
                                      retry_after=retry)
            q.append(now)
            if len(self._hits) > 100_000:
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}

    def reset(self) -> None:
        """Forget every counter (tests)."""
        with self._lock:
            self._hits.clear()


LIMITER = RateLimiter()
USER_PER_MINUTE = 120
