"""National portal sync: every status change is pushed with the portal's fields; failed pushes are retried."""

from __future__ import annotations

import json

import httpx
import pytest

from smartprovince.procedures.adapters import portal


@pytest.fixture
def sim():
    portal.SIMULATOR.records.clear()
    portal.SIMULATOR.pushes.clear()
    portal.SIMULATOR.fail_next = 0
    yield portal.SIMULATOR
    portal.SIMULATOR.fail_next = 0


def _act(client, api, who, dossier_id, verb, **body):
    r = client.post(f"/api/v1/procedures/dossiers/{dossier_id}/actions/{verb}", json=body, headers=api(who))
    assert r.status_code == 200, r.text
    return r.json()


def test_status_changes_reach_the_portal_even_when_it_was_down(api, client, drain, sim):
    r = client.post("/api/v1/procedures/dossiers", headers=api("citizen"),
                    json={"procedure_code": "1.001193", "agency_code": "10792"})
    d = r.json()
    drain()
    rec = sim.records[d["code"]]
    assert rec["TrangThaiHoSo"] == 1 and rec["KenhThucHien"] == 2 and rec["MaTTHC"] == "1.001193"
    assert rec["NgayNopHoSo"] == "20260302090000" and rec["NgayTiepNhan"] == "" and rec["KetQuaXuLy"] == 0
    sim.fail_next = 2  # the portal is down for the next two attempts
    _act(client, api, "onestop", d["id"], "claim")
    _act(client, api, "onestop", d["id"], "receive")
    drain()
    rec = sim.records[d["code"]]
    assert rec["TrangThaiHoSo"] == 2 and rec["NgayTiepNhan"] == "20260302090000"
    assert rec["NgayHenTra"] == "20260303170000"
    # Claims are internal: only submit and receive were pushed.
    assert [p["TrangThaiHoSo"] for p in sim.pushes] == [1, 2] and sim.fail_next == 0


def test_record_fields_for_a_finished_paid_post_dossier():
    rec = portal.portal_record({
        "code": "X-1", "procedure_code": "1.0", "agency_code": "296", "channel": "post", "status": 10,
        "submitted_at": "2026-03-02T02:00:00+00:00", "due_at": "2026-03-05T10:00:00+00:00",
        "extended_due_at": "2026-03-09T10:00:00+00:00", "finished_at": "2026-03-06T03:00:00+00:00",
        "returned_at": "2026-03-06T04:00:00+00:00", "paid_online": True, "fee_paid": 7000,
        "return_method": "post", "at": "2026-03-06T04:00:00+00:00"})
    assert rec["KenhThucHien"] == 3 and rec["NgayHenTra"] == "20260309170000" and rec["ThanhToanTrucTuyen"] == 1
    assert rec["HinhThuc"] == 1 and rec["KetQuaXuLy"] == 1 and rec["PhiLePhi"] == 7000
    assert rec["NgayTra"] == "20260306110000" and rec["NgayKetThucXuLy"] == "20260306100000"
    assert portal.portal_record({"code": "X-2", "status": 10, "return_method": "electronic"})["HinhThuc"] == 0


def test_http_portal_client_raises_so_the_bus_retries():
    seen = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"error_code": 0})

    client = portal.HttpPortalClient("https://dvc.example/api", "tok", transport=httpx.MockTransport(ok))
    client.push({"MaHoSo": "A"}, unit_code="000.00.00.H23", updating=True)
    sent = json.loads(seen[0].content)
    assert seen[0].url.path == "/api"
    assert sent == {"session": "tok", "madonvi": "000.00.00.H23", "service": "DongBoHoSoMC", "isUpdating": True,
                    "data": [{"MaHoSo": "A"}]}
    for answer in (httpx.Response(503), httpx.Response(200, json={"error_code": "-1", "message": "sai mã"})):
        client = portal.HttpPortalClient("https://dvc.example/api", "tok",
                                         transport=httpx.MockTransport(lambda r, a=answer: a))
        with pytest.raises(portal.PortalError):
            client.push({"MaHoSo": "A"}, unit_code="x", updating=False)
