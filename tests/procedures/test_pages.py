"""Portal and console pages: catalog, submit with a file, tracking, worklist, dossier actions, statistics."""

from __future__ import annotations

import io
import re

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HTML = {"accept": "text/html"}


def test_public_catalog_detail_and_tracking_pages(env, client):
    r = client.get("/portal/procedures", params={"q": "khai sinh"}, headers=HTML)
    assert r.status_code == 200 and "Đăng ký khai sinh" in r.text
    r = client.get("/portal/procedures/1.001193", headers=HTML)
    assert r.status_code == 200 and "Giấy chứng sinh" in r.text and "15 giờ" in r.text
    r = client.get("/portal/track", params={"code": "10792-260302-0001", "key": "AAAAAAAA"}, headers=HTML)
    assert r.status_code == 404 and "Không tìm thấy hồ sơ" in r.text


def test_citizen_submits_in_the_browser_and_officer_acts(env, make_user, client, login):
    citizen = make_user("hoa.web", role="citizen", kind="citizen", cccd="030190009999", full_name="Phạm Thị Hoa")
    token = login(citizen)
    r = client.get("/portal/procedures/1.001193/submit", headers=HTML)
    assert r.status_code == 200 and "Thị trấn Lai Cách" in r.text
    r = client.post("/portal/procedures/1.001193/submit", headers=HTML, follow_redirects=False,
                    data={"csrf_token": token, "name": "Phạm Thị Hoa", "cccd": "030190009999", "agency_code": "10792"},
                    files={"doc_1": ("chung-sinh.png", io.BytesIO(PNG), "image/png")})
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"], headers=HTML)
    assert "10792-260302-0001" in page.text and "Giấy chứng sinh" in page.text
    key = re.search(r'id="lookup-key">(\w+)<', page.text).group(1)
    # The same citizen's next dossier can reuse the file given before, without uploading it again.
    form = client.get("/portal/procedures/1.000894/submit", headers=HTML)
    reuse_id = re.search(r'name="reuse" value="(\w+)"', form.text).group(1)
    r2 = client.post("/portal/procedures/1.000894/submit", headers=HTML, follow_redirects=False,
                     data={"csrf_token": token, "name": "Phạm Thị Hoa", "agency_code": "10792", "reuse": reuse_id})
    assert r2.status_code == 303
    second = client.get(r2.headers["location"], headers=HTML)
    assert "tái sử dụng" in second.text and "chung-sinh.png" in second.text
    tracked = client.get("/portal/track", params={"code": "10792-260302-0001", "key": key}, headers=HTML)
    assert tracked.status_code == 200 and "Mới đăng ký" in tracked.text and "P.T.H." in tracked.text

    client.cookies.clear()
    officer = make_user("mai.web", role="onestop_officer", org="10792", full_name="Lê Thị Mai")
    token = login(officer)
    work = client.get("/console/procedures", headers=HTML)
    assert work.status_code == 200 and "10792-260302-0001" in work.text
    dossier_id = re.search(r'/console/procedures/dossiers/(\w+)">10792-260302-0001<', work.text).group(1)
    base = f"/console/procedures/dossiers/{dossier_id}"
    assert client.post(f"{base}/claim", data={"csrf_token": token}, headers=HTML,
                       follow_redirects=False).status_code == 303
    client.post(f"{base}/receive", data={"csrf_token": token, "note": "Đủ hồ sơ"}, headers=HTML)
    page = client.get(base, headers=HTML)
    assert 'id="dossier-status">Đã tiếp nhận' in page.text and 'data-action="forward"' in page.text
    # An action that is not allowed now comes back as an error message, never a server error.
    r = client.post(f"{base}/return_result", data={"csrf_token": token, "method": "counter"}, headers=HTML)
    assert r.status_code == 200 and "not allowed" in r.text
    # Without the CSRF token nothing happens.
    no_token = {**HTML, "x-csrf-token": ""}
    assert client.post(f"{base}/forward", data={}, headers=no_token).status_code == 403


def test_stats_page_for_a_leader(env, make_user, client, login):
    leader = make_user("duc.web", role="district_leader", org="296")
    login(leader)
    r = client.get("/console/procedures/stats", params={"from": "2026-01-01", "to": "2026-03-31"}, headers=HTML)
    assert r.status_code == 200 and "Quyết định 766" in r.text


def test_leader_attaches_the_electronic_result_on_the_dossier_page(env, make_user, client, login):
    """The console's approve form takes the result files; the applicant's dossier page links them."""
    from smartprovince.procedures import service

    citizen = make_user("binh.web", role="citizen", kind="citizen", full_name="Đỗ Văn Bình")
    officer = make_user("mai.web", role="onestop_officer", org="10792", full_name="Lê Thị Mai")
    leader = make_user("duc.web", role="district_leader", org="296", full_name="Phạm Văn Đức")
    with env.db.session() as s:
        d = service.submit_dossier(s, actor=env.actor("binh.web"), submission=service.Submission(
            procedure_code="1.001193", channel="online", agency_code="10792",
            applicant=service.Applicant(name="Đỗ Văn Bình")))
        dossier_id = d.id
    for verb in ("claim_dossier", "receive_dossier", "forward_dossier"):
        with env.db.session() as s:
            getattr(service, verb)(s, actor=env.actor(officer.username), dossier_id=dossier_id)
    token = login(leader)
    base = f"/console/procedures/dossiers/{dossier_id}"
    client.post(f"{base}/claim", data={"csrf_token": token}, headers=HTML)
    page = client.get(base, headers=HTML)
    assert 'id="res-f"' in page.text  # the approve form has the result file input
    r = client.post(f"{base}/finish", data={"csrf_token": token, "note": "Đã ký số"}, headers=HTML,
                    files={"files": ("ket-qua.pdf", io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "application/pdf")})
    assert r.status_code == 200 and 'id="dossier-status">Đã xử lý xong' in r.text, r.text[:2000]
    client.cookies.clear()
    login(citizen)
    mine = client.get(f"/portal/dossiers/{dossier_id}", headers=HTML)
    link = re.search(rf'href="(/api/v1/procedures/dossiers/{dossier_id}/attachments/\w+)">Kết quả<', mine.text)
    assert link, mine.text[:3000]
    assert client.get(link.group(1)).content == b"%PDF-1.4\n%%EOF\n"


def test_worklist_sorts_by_due_date_and_marks_late_and_nearly_late(env, frozen_clock, make_user, client, login):
    """Three dossiers in processing: one past due, one due tomorrow, one next week. The worklist lists
    them most urgent first, marked "Quá hạn" / "Sắp đến hạn" / nothing, with the counts on top."""
    from datetime import timedelta

    from smartprovince.procedures import service

    def received(code: str) -> str:
        with env.db.session() as s:
            did = service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
                procedure_code=code, agency_code="10792", applicant=service.Applicant(name="Lê Văn An"))).id
        for verb in ("claim_dossier", "receive_dossier"):
            with env.db.session() as s:
                getattr(service, verb)(s, actor=env.actor("motcua"), dossier_id=did)
        return did

    # Monday 2 March 2026: birth registration (1 working day: due Tuesday) and an inter-connected
    # procedure (5 working days: due Monday 9 March).
    late, later = received("1.001193"), received("2.000986")
    frozen_clock[0] += timedelta(days=2)  # Wednesday 09:00: the first is late
    soon = received("1.001193")  # due Thursday: nearly late
    officer = make_user("mai.worklist", role="onestop_officer", org="10792", full_name="Lê Thị Mai")
    login(officer)
    page = client.get("/console/procedures", headers=HTML)
    assert page.status_code == 200
    rows = re.findall(r'data-urgency="(\w+)">.*?/console/procedures/dossiers/(\w+)"', page.text, flags=re.S)
    assert rows == [("late", late), ("nearly_late", soon), ("ok", later)], rows
    assert "1 quá hạn" in page.text and "1 sắp đến hạn" in page.text


def test_officer_forwards_to_another_unit_from_the_dossier_page(env, make_user, client, login):
    """Besides the procedure's steps, the forward form takes another unit; the page then shows it."""
    from smartprovince.procedures import service

    with env.db.session() as s:
        dossier_id = service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
            procedure_code="1.001193", agency_code="10792", applicant=service.Applicant(name="Lê Văn An"))).id
    officer = make_user("mai.forward", role="onestop_officer", org="10792", full_name="Lê Thị Mai")
    token = login(officer)
    base = f"/console/procedures/dossiers/{dossier_id}"
    client.post(f"{base}/claim", data={"csrf_token": token}, headers=HTML)
    client.post(f"{base}/receive", data={"csrf_token": token}, headers=HTML)
    page = client.get(base, headers=HTML)
    assert 'name="to_unit"' in page.text
    r = client.post(f"{base}/forward", data={"csrf_token": token, "to_unit": "Phòng Tư pháp huyện Cẩm Giàng"},
                    headers=HTML)
    assert r.status_code == 200 and 'id="dossier-status">Đang xử lý' in r.text
    assert "Phòng Tư pháp huyện Cẩm Giàng" in r.text
