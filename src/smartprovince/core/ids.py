"""Identifiers: time-ordered random ids (UUIDv7 layout) as 32-char hex strings."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A new id that sorts by creation time (UUIDv7 bit layout, hex without dashes)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return f"{value:032x}"
