"""Property tests of the bus: the retry schedule, topic matching, and the delivery bookkeeping.

The bookkeeping property drives the real in-process dispatcher on a real database: a handler that
fails the first ``k`` times on an event ends with exactly one effect and no dead letter when
``k < max_attempts``, and with no effect and exactly one dead letter (with ``max_attempts``
attempts) otherwise.
"""

from __future__ import annotations

from collections import Counter

import pytest
from bus_crash_child import add_effect, count_effects, create_effect_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smartprovince.core import bus
from smartprovince.core.bus import MAX_RETRY_DELAY_SECONDS, DeadLetter, Delivery, Event, after_failure, retry_delay

bases = st.floats(min_value=0.001, max_value=600, allow_nan=False, allow_infinity=False)


@given(base=bases, attempts=st.integers(min_value=1, max_value=200))
def test_retry_delay_starts_at_base_doubles_and_is_capped(base: float, attempts: int) -> None:
    delay = retry_delay(attempts, base)
    assert 0 < delay <= MAX_RETRY_DELAY_SECONDS
    assert retry_delay(1, base) == min(base, MAX_RETRY_DELAY_SECONDS)
    nxt = retry_delay(attempts + 1, base)
    assert nxt >= delay  # never shorter than the previous wait
    if nxt < MAX_RETRY_DELAY_SECONDS:
        assert nxt == pytest.approx(2 * delay)


@given(base=bases, max_attempts=st.integers(min_value=1, max_value=30))
def test_exactly_max_attempts_before_dead_letter(base: float, max_attempts: int) -> None:
    steps = [after_failure(n, max_attempts=max_attempts, base_seconds=base) for n in range(1, max_attempts + 1)]
    assert [s.dead for s in steps] == [False] * (max_attempts - 1) + [True]
    assert all(s.delay is not None and s.delay > 0 for s in steps[:-1])
    assert steps[-1].delay is None


def test_retry_delay_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError):
        retry_delay(0, 1.0)


words = st.sampled_from(["procedures", "dossier", "received", "a", "b", "x-1", "sensor_7"])
topics = st.lists(words, min_size=1, max_size=5).map(".".join)


@given(topic=topics)
def test_a_topic_matches_itself_its_stars_and_its_tails(topic: str) -> None:
    parts = topic.split(".")
    assert bus.topic_matches(topic, topic)
    assert bus.topic_matches(".".join("*" for _ in parts), topic)
    assert not bus.topic_matches(".".join("*" for _ in parts) + ".*", topic)
    for i in range(len(parts)):
        assert bus.topic_matches(".".join(parts[:i] + [">"]), topic)
    assert not bus.topic_matches(topic + ".>", topic)


@pytest.fixture
def dispatcher(database, settings):  # type: ignore[no-untyped-def]
    create_effect_table(database)
    return database, settings


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(failures=st.integers(min_value=0, max_value=7), max_attempts=st.integers(min_value=1, max_value=5))
def test_delivery_bookkeeping(dispatcher, failures: int, max_attempts: int) -> None:  # type: ignore[no-untyped-def]
    database, base_settings = dispatcher
    calls = Counter[str]()

    def sometimes(session: Session, ev: Event) -> None:
        calls[ev.id] += 1
        add_effect(session, event_id=ev.id, handler="p.sometimes")
        if calls[ev.id] <= failures:
            raise RuntimeError(f"failure {calls[ev.id]}")

    bus.subscribe("test.prop.*", name="p.sometimes")(sometimes)
    try:
        running = bus.Bus(
            base_settings.model_copy(update={"bus_url": "inprocess", "bus_max_attempts": max_attempts}), database
        )
        with database.session() as s:
            event_id = bus.publish(s, "test.prop.happened", {"failures": failures})
        running.drain()
        running.uninstall()
    finally:
        bus.unsubscribe("p.sometimes")

    with database.session() as s:
        dead = list(s.scalars(select(DeadLetter).where(DeadLetter.event_id == event_id)))
        left = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.event_id == event_id))
    assert left == 0
    if failures < max_attempts:
        assert calls[event_id] == failures + 1
        assert count_effects(database, "p.sometimes", event_id) == 1
        assert dead == []
    else:
        assert calls[event_id] == max_attempts
        assert count_effects(database, "p.sometimes", event_id) == 0
        assert [(d.attempts, d.handler) for d in dead] == [(max_attempts, "p.sometimes")]
        assert f"failure {max_attempts}" in dead[0].error
