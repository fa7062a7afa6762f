"""Excel exports: the statistics and the worklist open in openpyxl and hold the same figures as the API."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook

from smartprovince.procedures import service
from smartprovince.procedures.xlsx import STATS_COLUMNS, WORKLIST_HEADERS, XLSX_MEDIA_TYPE

PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}


def _dossiers(env, frozen_clock) -> list[str]:  # type: ignore[no-untyped-def]
    def do(who, fn, did, **kw):  # type: ignore[no-untyped-def]
        with env.db.session() as s:
            return fn(s, actor=env.actor(who), dossier_id=did, **kw)

    ids = []
    for code in ("1.001193", "1.001193", "1.000894"):
        with env.db.session() as s:
            ids.append(service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
                procedure_code=code, agency_code="10792", applicant=service.Applicant(name="Lê Văn An"))).id)
    for did in ids[:2]:
        do("motcua", service.claim_dossier, did)
        do("motcua", service.receive_dossier, did)
    do("motcua", service.claim_dossier, ids[0])
    do("motcua", service.forward_dossier, ids[0])
    frozen_clock[0] += timedelta(hours=3)
    do("lanhdao", service.claim_dossier, ids[0])
    do("lanhdao", service.finish_dossier, ids[0])
    frozen_clock[0] += timedelta(days=5)  # the second dossier is now past due
    return ids


def test_stats_xlsx_matches_the_json(env, frozen_clock, api, client):
    _dossiers(env, frozen_clock)
    as_json = client.get("/api/v1/procedures/stats", params=PERIOD, headers=api("leader")).json()
    r = client.get("/api/v1/procedures/stats", params={**PERIOD, "format": "xlsx"}, headers=api("leader"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX_MEDIA_TYPE
    assert r.headers["content-disposition"].endswith('.xlsx"')
    ws = load_workbook(io.BytesIO(r.content)).active
    assert "766" in ws["A1"].value and "2026-03-01" in ws["A2"].value
    assert [c.value for c in ws[5]] == [title for _, title in STATS_COLUMNS]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=6)]
    expected = [*as_json["rows"], as_json["total"]]
    assert len(rows) == len(expected) == 2  # one procedure received, and the total
    for got, want in zip(rows, expected, strict=True):
        for (name, _), value in zip(STATS_COLUMNS, got, strict=True):
            if name == "agency_code" and want[name] == "*":
                assert value == "Tất cả"
            else:
                assert value == want[name], name
    total = dict(zip([n for n, _ in STATS_COLUMNS], rows[-1], strict=True))
    assert (total["received"], total["finished_early"], total["open_overdue"]) == (2, 1, 1)
    # Same permission as the JSON.
    assert client.get("/api/v1/procedures/stats", params={**PERIOD, "format": "xlsx"},
                      headers=api("citizen")).status_code == 403
    assert client.get("/api/v1/procedures/stats", params={**PERIOD, "format": "xls"},
                      headers=api("leader")).status_code == 422


def test_worklist_xlsx_lists_what_the_officer_sees(env, frozen_clock, api, client):
    ids = _dossiers(env, frozen_clock)
    r = client.get("/api/v1/procedures/worklist.xlsx", headers=api("onestop"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX_MEDIA_TYPE
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["Đang xử lý", "Chờ tiếp nhận", "Chờ trả kết quả"]
    processing, intake, finished = (wb[n] for n in wb.sheetnames)
    assert [c.value for c in processing[1]] == WORKLIST_HEADERS
    with env.db.session() as s:
        from smartprovince.procedures.models import Dossier

        codes = {d.id: d.code for d in (s.get(Dossier, i) for i in ids) if d is not None}
    late = [[c.value for c in row] for row in processing.iter_rows(min_row=2)]
    assert [r[0] for r in late] == [codes[ids[1]]]
    assert late[0][9] == "Quá hạn" and late[0][3] == "Lê Văn An" and late[0][2] == "Đăng ký khai sinh"
    assert [row[0].value for row in intake.iter_rows(min_row=2)] == [codes[ids[2]]]
    assert [row[0].value for row in finished.iter_rows(min_row=2)] == [codes[ids[0]]]
    # No citizen id or phone in the file.
    text = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value)
    assert "030190001234" not in text
    # Another commune's officer gets an empty worklist; a citizen is refused.
    other = load_workbook(io.BytesIO(client.get("/api/v1/procedures/worklist.xlsx",
                                                headers=api("other_commune")).content))
    assert all(ws.max_row == 1 for ws in other)
    assert client.get("/api/v1/procedures/worklist.xlsx", headers=api("citizen")).status_code == 403


def test_pages_offer_the_excel_downloads(env, make_user, client, login):
    leader = make_user("duc.xlsx", role="district_leader", org="296")
    login(leader)
    html = {"accept": "text/html"}
    page = client.get("/console/procedures/stats", params=PERIOD, headers=html).text
    assert 'id="xlsx-link"' in page and "format=xlsx" in page
    assert 'href="/api/v1/procedures/worklist.xlsx"' in client.get("/console/procedures", headers=html).text
