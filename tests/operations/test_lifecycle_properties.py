"""Property tests of the incident state machine (pure, no database)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from smartprovince.operations import lifecycle
from smartprovince.operations.lifecycle import InvalidTransition, Times, apply

START = datetime(2026, 3, 2, tzinfo=UTC)
verbs = st.lists(st.sampled_from([*lifecycle.VERBS, "fly"]), max_size=40)


@given(verbs)
def test_random_verb_sequences_keep_the_invariants(seq: list[str]) -> None:
    state = Times("new")
    at = START
    first_ack = None
    for verb in seq:
        at += timedelta(minutes=7)
        before = state
        try:
            state = apply(state, verb, at)
        except InvalidTransition:
            assert verb not in lifecycle.allowed_verbs(before.status)
            assert state == before  # a refused verb changes nothing
            continue
        assert verb in lifecycle.allowed_verbs(before.status)
        assert state.status == lifecycle.TRANSITIONS[verb][1]
        # time to acknowledge is set once, by the first acknowledge or start, and never moves
        if first_ack is None and state.acknowledged_at is not None:
            first_ack = state.acknowledged_at
            assert verb in ("acknowledge", "start")
        assert state.acknowledged_at == first_ack
        # resolved_at exactly when resolved or closed
        assert (state.resolved_at is not None) == (state.status in ("resolved", "closed"))
        if state.resolved_at and state.acknowledged_at:
            assert state.acknowledged_at <= state.resolved_at
        assert (state.closed_at is not None) == (state.status == "closed")
        assert state.escalations == before.escalations + (verb == "escalate")


@given(verbs)
def test_closed_is_final_and_every_open_state_can_reach_closed(seq: list[str]) -> None:
    state = Times("new")
    for verb in seq:
        with contextlib.suppress(InvalidTransition):
            state = apply(state, verb, START)
    if state.status == "closed":
        assert lifecycle.allowed_verbs("closed") == []
    else:
        if state.status != "resolved":
            state = apply(state, "resolve", START)
        assert apply(state, "close", START).status == "closed"


def test_known_paths() -> None:
    s = apply(Times("new"), "start", START)
    assert s.status == "in_progress" and s.acknowledged_at == START
    s = apply(s, "escalate", START + timedelta(minutes=5))
    assert s.status == "escalated" and s.escalations == 1 and s.acknowledged_at == START
    s = apply(s, "resolve", START + timedelta(hours=1))
    s = apply(s, "reopen", START + timedelta(hours=2))
    assert s.status == "in_progress" and s.resolved_at is None
