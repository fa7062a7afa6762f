"""Property test of the lockout state machine: any sequence of attempts and waits behaves like the model.

Model: wrong passwords in a row are counted; at ``login_max_failures`` the account locks for
``lockout_minutes`` (every attempt then gets 429, right password or not); a success resets the count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartprovince import identity
from smartprovince.core import clock
from smartprovince.core.errors import TooManyRequests, Unauthorized
from smartprovince.core.security import SYSTEM

PASSWORD = "mat-khau-dung-1"
steps = st.lists(
    st.one_of(st.sampled_from(["right", "wrong"]), st.integers(1, 20).map(lambda m: ("wait", m))),
    min_size=1, max_size=9,
)


@pytest.fixture
def fast_settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"login_max_failures": 3, "lockout_minutes": 10})


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps)
def test_lockout_matches_model(script, database, fast_settings) -> None:  # type: ignore[no-untyped-def]
    now = [datetime(2026, 3, 2, 2, 0, tzinfo=UTC)]
    clock.set_clock(lambda: now[0])
    try:
        username = f"u{abs(hash(tuple(map(str, script)))) % 10**12}-{id(script)}"
        with database.session() as s:
            identity.create_user(s, actor=SYSTEM, username=username, password=PASSWORD, full_name="Thử", kind="officer")
        failures, locked_until = 0, None
        for step in script:
            if isinstance(step, tuple):
                now[0] += timedelta(minutes=step[1])
                continue
            expected: str
            if locked_until is not None and now[0] < locked_until:
                expected = "locked"
            elif step == "right":
                expected, failures, locked_until = "ok", 0, None
            else:
                failures += 1
                expected = "wrong"
                if failures >= fast_settings.login_max_failures:
                    failures, locked_until = 0, now[0] + timedelta(minutes=fast_settings.lockout_minutes)
            got = "ok"
            try:
                with database.session() as s:
                    identity.authenticate(s, username, PASSWORD if step == "right" else "sai", settings=fast_settings)
            except TooManyRequests:
                got = "locked"
            except Unauthorized:
                got = "wrong"
            assert got == expected, (script, step)
    finally:
        clock.set_clock(None)
