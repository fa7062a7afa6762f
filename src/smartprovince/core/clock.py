"""One clock for the whole platform, injectable in tests (``set_clock``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 - swapped by set_clock


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); ``None`` restores the real one."""
    global _now
    _now = fn or (lambda: datetime.now(UTC))


def local_now() -> datetime:
    """The current instant in Vietnam's time zone."""
    return now().astimezone(VN_TZ)
