"""Identifiers: time-ordered random ids (UUIDv7 layout) as 32-char hex strings."""

from __future__ import annotations

import os
import threading
import time

_RAND_BITS = 74  # 12 bits of rand_a + 62 bits of rand_b
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def new_id() -> str:
    """A new id that sorts by creation time (UUIDv7 bit layout, hex without dashes).

    Ids made by one process are strictly increasing, also within one millisecond: the random part
    of the previous id is advanced by a random step (RFC 9562 §6.2, method 2), and a clock that
    steps back keeps the previous millisecond. Rows ordered by id are therefore in creation order
    (alerts, actions, events written in one transaction often share a millisecond). Ids made by
    different processes in the same millisecond are unordered among themselves.
    """
    global _last_ms, _last_rand
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1 + int.from_bytes(os.urandom(4), "big")
            if rand >> _RAND_BITS:  # the random part ran over: borrow the next millisecond
                ms += 1
                rand = int.from_bytes(os.urandom(9), "big") >> 2
        else:
            rand = int.from_bytes(os.urandom(9), "big") >> 2  # 70 bits: room to advance within the ms
        _last_ms, _last_rand = ms, rand
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0x2 << 62 | rand_b
    return f"{value:032x}"
