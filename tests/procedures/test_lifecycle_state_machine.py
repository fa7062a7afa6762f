"""Property tests of the dossier lifecycle.

1. A pure test: any sequence of verbs either is refused or replays to the same state.
2. A hypothesis ``RuleBasedStateMachine`` that drives the HTTP API with random actions by the right
   people and checks, after every step: illegal actions are refused with 409 (and change nothing),
   legal ones succeed, the stored status equals the replay of the action log, dossier codes are
   unique, and due dates agree with the working-day calendar (supplement waits excluded).

The expected behaviour is written out here independently of ``procedures.lifecycle``, from the
national status list, so the test does not check the code against itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from smartprovince.core import calendar
from smartprovince.procedures import lifecycle

# verb -> statuses (national codes) from which it is allowed
ALLOWED = {
    "receive": {1}, "refuse": {1}, "forward": {2, 4}, "request_supplement": {1, 2, 4}, "request_fee": {2, 4},
    "refuse_withdrawal": {7}, "stop": {2, 4, 5, 6, 7}, "finish": {4}, "return_result": {9},
    "extend": {2, 4, 5, 6}, "supplement": {5}, "pay": {6}, "request_withdrawal": {1, 2, 4, 5, 6},
}
APPLICANT = {"supplement", "pay", "request_withdrawal"}
APPROVE = {"finish", "stop"}
VERBS = sorted(ALLOWED)


class Model:
    """What we expect of one dossier."""

    def __init__(self, dossier_id: str, kind: str):
        self.id = dossier_id
        self.kind = kind  # "birth" (commune) or "residence" (police)
        self.status = 1
        self.stack: list[int] = []
        self.extended = False
        self.has_due = False
        self.claimed_by: str | None = None

    def expect(self, verb: str) -> int:
        """The HTTP status the API must answer for ``verb`` now."""
        if self.status not in ALLOWED[verb]:
            return 409
        if verb == "extend" and (self.extended or not self.has_due):
            return 409 if self.extended else 422
        return 200

    def apply(self, verb: str) -> None:
        s = self.status
        if verb == "receive":
            self.status, self.has_due = 2, True
        elif verb == "refuse":
            self.status = 3
        elif verb == "forward":
            self.status = 4
        elif verb == "request_supplement":
            self.stack.append(1 if s == 1 else 4)
            self.status = 5
        elif verb == "request_fee":
            self.stack.append(4)
            self.status = 6
        elif verb == "request_withdrawal":
            self.stack.append(s)
            self.status = 7
        elif verb in ("supplement", "pay", "refuse_withdrawal"):
            self.status = self.stack.pop() if self.stack else 4
        elif verb == "stop":
            self.status, self.stack = 8, []
        elif verb == "finish":
            self.status = 9
        elif verb == "return_result":
            self.status = 10
        elif verb == "extend":
            self.extended = True
        if verb in ("receive", "forward"):
            self.stack = []
        if verb in ("refuse", "forward", "request_supplement", "request_fee", "stop", "finish", "return_result"):
            self.claimed_by = None  # the service hands the dossier on: nobody holds it any more


@given(st.lists(st.sampled_from([*VERBS, "claim", "release"]), max_size=30))
def test_replay_of_any_log_is_deterministic(verbs):
    state = None
    accepted = []
    for v in ["submit", *verbs]:
        try:
            state = lifecycle.apply(state, v)
            accepted.append(v)
        except lifecycle.IllegalTransition:
            continue
    assert lifecycle.replay(accepted) == state
    assert state is not None and (state.status in lifecycle.TERMINAL or lifecycle.allowed_verbs(state))


@pytest.mark.slow
def test_api_lifecycle_state_machine(env, api, client, frozen_clock):
    codes_seen: set[str] = set()
    start_at = frozen_clock[0]

    class DossierMachine(RuleBasedStateMachine):
        dossiers = Bundle("dossiers")

        @initialize()
        def start(self):
            self.models: dict[str, Model] = {}
            frozen_clock[0] = start_at

        @rule(target=dossiers, kind=st.sampled_from(["birth", "residence"]))
        def submit(self, kind):
            body = ({"procedure_code": "1.001193", "agency_code": "10792"} if kind == "birth"
                    else {"procedure_code": "1.004194"})
            r = client.post("/api/v1/procedures/dossiers", json=body, headers=api("citizen"))
            assert r.status_code == 201, r.text
            d = r.json()
            assert d["code"] not in codes_seen
            codes_seen.add(d["code"])
            m = Model(d["id"], kind)
            self.models[m.id] = m
            return m.id

        def _officer(self, m: Model, verb: str) -> str:
            if verb in APPROVE:
                return "leader" if m.kind == "birth" else "province"
            return "onestop" if m.kind == "birth" else "police"

        @rule(dossier_id=dossiers, verb=st.sampled_from(VERBS))
        def act(self, dossier_id, verb):
            m = self.models.get(dossier_id)
            if m is None:  # a dossier of an earlier example
                return
            expected = m.expect(verb)
            body = {"reason": "Lý do thử nghiệm", "note": "Ghi chú", "amount": 10000, "method": "electronic"}
            if verb == "pay":  # online payments come from the platform; here the counter records cash
                body["method"] = "counter"
                url = f"/api/v1/procedures/dossiers/{m.id}/applicant/pay"
                who = self._officer(m, verb)
            elif verb in APPLICANT:
                body["method"] = "online"
                url = f"/api/v1/procedures/dossiers/{m.id}/applicant/{verb}"
                who = "citizen"
            else:
                who = self._officer(m, verb)
                if m.claimed_by and m.claimed_by != who:
                    client.post(f"/api/v1/procedures/dossiers/{m.id}/actions/release", headers=api(m.claimed_by))
                    m.claimed_by = None
                c = client.post(f"/api/v1/procedures/dossiers/{m.id}/actions/claim", headers=api(who))
                if c.status_code == 200:
                    m.claimed_by = who
                else:
                    assert c.status_code == 409, c.text
                url = f"/api/v1/procedures/dossiers/{m.id}/actions/{verb}"
            if verb == "extend":
                current = client.get(f"/api/v1/procedures/dossiers/{m.id}", headers=api("province")).json()
                due = current["extended_due_at"] or current["due_at"] or "2030-01-01T00:00:00+00:00"
                from datetime import datetime

                body["new_due_at"] = (datetime.fromisoformat(due) + timedelta(days=3)).isoformat()
            r = client.post(url, json=body, headers=api(who))
            assert r.status_code == expected, (verb, m.status, r.status_code, r.text)
            assert r.headers["content-type"].startswith(
                "application/json" if expected == 200 else "application/problem+json")
            if expected == 200:
                m.apply(verb)
                assert r.json()["status"] == m.status

        @rule(hours=st.integers(min_value=1, max_value=24 * 4))
        def time_passes(self, hours):
            frozen_clock[0] = frozen_clock[0] + timedelta(hours=hours)

        @invariant()
        def stored_status_matches_model_and_log(self):
            from smartprovince.procedures import service
            from smartprovince.procedures.models import Dossier, Procedure

            if not getattr(self, "models", None):
                return
            with env.db.session() as s:
                for m in self.models.values():
                    d = s.get(Dossier, m.id)
                    assert d.status == m.status
                    assert service.check_status_consistent(s, d)
                    if d.received_at is not None:
                        proc = s.get(Procedure, d.procedure_id)
                        base = calendar.add_working_days(d.received_at, int(proc.processing_time),
                                                         cutoff_hour=proc.cutoff_hour, session=s)
                        assert calendar.working_days_between(base, d.due_at, session=s) == d.supplement_days
                        assert (d.due_at - base) >= timedelta(0)

    DossierMachine.TestCase.settings = settings(
        max_examples=12, stateful_step_count=18, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run_state_machine_as_test(DossierMachine, settings=DossierMachine.TestCase.settings)
