"""The dossier lifecycle through the service functions: codes, due dates, claims, log, audit, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from smartprovince.core.errors import Conflict, NotFound
from smartprovince.procedures import service
from smartprovince.procedures.lifecycle import Status
from smartprovince.procedures.models import Dossier, DossierAction


def _submit(env, *, who="citizen", code="1.001193", channel="online", agency="10792") -> Dossier:
    with env.db.session() as s:
        return service.submit_dossier(s, actor=env.actor(env.users[who].username), submission=service.Submission(
            procedure_code=code, channel=channel, agency_code=agency,
            applicant=service.Applicant(name="Nguyễn Thị Hoa", cccd="030190001234")))


def _do(env, who, fn, dossier_id, **kw):
    with env.db.session() as s:
        return fn(s, actor=env.actor(env.users[who].username), dossier_id=dossier_id, **kw)


def test_birth_registration_goes_through_every_step(env, frozen_clock):
    d = _submit(env)
    assert d.code == "10792-260302-0001"
    assert d.status == Status.SUBMITTED and len(d.lookup_key) == 8
    _do(env, "onestop", service.claim_dossier, d.id)
    d = _do(env, "onestop", service.receive_dossier, d.id)
    # Received Monday 2 March 2026 09:00 (before the 15:00 cutoff), 1 working day → Tuesday 17:00 local.
    assert d.due_at == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    d = _do(env, "onestop", service.forward_dossier, d.id)
    assert d.status == Status.PROCESSING and d.claimed_by is None
    _do(env, "leader", service.claim_dossier, d.id)
    frozen_clock[0] += timedelta(hours=3)
    d = _do(env, "leader", service.finish_dossier, d.id, result_note="Đã cấp giấy khai sinh")
    assert d.status == Status.FINISHED
    _do(env, "onestop", service.claim_dossier, d.id)
    d = _do(env, "onestop", service.return_result, d.id, method="electronic")
    assert d.status == Status.RETURNED
    with env.db.session() as s:
        verbs = [a.verb for a in s.scalars(select(DossierAction).where(DossierAction.dossier_id == d.id)
                                            .order_by(DossierAction.seq))]
        assert verbs == ["submit", "claim", "receive", "forward", "claim", "finish", "claim", "return_result"]
        assert service.check_status_consistent(s, s.get(Dossier, d.id))
        finish = s.scalars(select(DossierAction).where(DossierAction.verb == "finish")).one()
        assert finish.data["timing"] == "early"


def test_officer_must_claim_and_claims_are_exclusive(env):
    d = _submit(env)
    with pytest.raises(Conflict):
        _do(env, "onestop", service.receive_dossier, d.id)
    _do(env, "onestop", service.claim_dossier, d.id)
    with pytest.raises(Conflict):
        _do(env, "onestop2", service.claim_dossier, d.id)
    with pytest.raises(Conflict):
        _do(env, "onestop2", service.receive_dossier, d.id)
    _do(env, "onestop", service.release_dossier, d.id)
    _do(env, "onestop2", service.claim_dossier, d.id)
    _do(env, "onestop2", service.receive_dossier, d.id)


def test_officer_of_another_commune_cannot_see_the_dossier(env):
    d = _submit(env)
    with pytest.raises(NotFound):
        _do(env, "other_commune", service.claim_dossier, d.id)


def test_illegal_transition_is_a_conflict_and_writes_nothing(env):
    d = _submit(env)
    _do(env, "onestop", service.claim_dossier, d.id)
    with pytest.raises(Conflict):
        _do(env, "onestop", service.return_result, d.id, method="counter")
    with env.db.session() as s:
        assert s.get(Dossier, d.id).status == Status.SUBMITTED
        assert len(service.verbs_of(s, d.id)) == 2


def test_supplement_time_is_not_processing_time(env, frozen_clock):
    d = _submit(env, code="HD-06-15", agency="so-tu-phap")  # 10 working days
    d = _submit(env, code="1.004194", agency=None)  # tạm trú, 3 working days, Công an tỉnh
    _do(env, "police", service.claim_dossier, d.id)
    d = _do(env, "police", service.receive_dossier, d.id)
    due = d.due_at
    d = _do(env, "police", service.request_supplement, d.id, reason="Thiếu giấy tờ chỗ ở")
    frozen_clock[0] += timedelta(days=7)  # the citizen comes back a week later (5 working days)
    d = _do(env, "citizen", service.supplement_dossier, d.id)
    assert d.status == Status.PROCESSING
    assert d.supplement_days == 5
    assert d.due_at == due + timedelta(days=7)


def test_codes_are_sequential_per_agency_and_day(env, frozen_clock):
    codes = [_submit(env).code for _ in range(3)]
    assert codes == ["10792-260302-0001", "10792-260302-0002", "10792-260302-0003"]
    assert _submit(env, agency="10795").code == "10795-260302-0001"
    frozen_clock[0] += timedelta(days=1)
    assert _submit(env).code == "10792-260303-0001"


def test_events_and_audit_are_written_with_each_transition(env):
    from smartprovince.core.bus import OutboxEvent

    d = _submit(env)
    _do(env, "onestop", service.claim_dossier, d.id)
    _do(env, "onestop", service.receive_dossier, d.id)
    with env.db.session() as s:
        topics = [e.topic for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.occurred_at))]
        assert "procedures.dossier.submitted" in topics and "procedures.dossier.received" in topics
        from smartprovince.core.audit import AuditEntry

        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_id == d.id))]
        assert actions == ["procedures.dossier.submitted", "procedures.dossier.claimed", "procedures.dossier.received"]


def test_codes_stay_unique_and_gap_free_under_concurrent_submissions(env, frozen_clock):
    """Twelve submissions at once on the same agency and day, one of them rolled back after taking its
    number: every code is different and together they are 0001…00NN with no hole (the rolled-back
    number is given back, not skipped)."""
    from concurrent.futures import ThreadPoolExecutor

    from smartprovince.core import bus

    class Abandoned(Exception):
        pass

    def abandoned_submission() -> None:
        with pytest.raises(Abandoned), env.db.session() as s:
            bus.begin_write(s)
            service.next_sequence(s, "10792", frozen_clock[0].date())
            raise Abandoned

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(_submit, env) for _ in range(11)]
        futures.insert(5, pool.submit(abandoned_submission))
        results = [f.result() for f in futures]
    codes = sorted(d.code for d in results if d is not None)
    assert len(codes) == 11 and len(set(codes)) == 11
    assert codes == [f"10792-260302-{n:04d}" for n in range(1, 12)]
    assert _submit(env).code == "10792-260302-0012"
