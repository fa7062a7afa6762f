"""Ids sort by creation time, also when many are made within one millisecond."""

from __future__ import annotations

import threading
import uuid

from smartprovince.core import ids


def test_ids_made_in_one_millisecond_still_sort_in_creation_order() -> None:
    made = [ids.new_id() for _ in range(20_000)]  # thousands per millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_are_uuid_version_7_with_the_rfc_variant() -> None:
    for value in (ids.new_id() for _ in range(1000)):
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert len(value) == 32


def test_a_clock_that_steps_back_does_not_reorder_ids(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = ids.new_id()
    now = int(first[:12], 16) * 1_000_000
    monkeypatch.setattr(ids.time, "time_ns", lambda: now - 5_000_000_000)  # five seconds back
    later = [ids.new_id() for _ in range(100)]
    assert [first, *later] == sorted([first, *later])


def test_ids_from_many_threads_are_unique() -> None:
    out: list[list[str]] = []

    def make() -> None:
        out.append([ids.new_id() for _ in range(2000)])

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [v for part in out for v in part]
    assert len(set(every)) == len(every)
    assert all(part == sorted(part) for part in out)
