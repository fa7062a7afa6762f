"""The feedback pages as a browser uses them (server-rendered HTML, form posts with the CSRF token)."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field"
    return m.group(1)


def test_citizen_reports_officer_resolves_citizen_rates(client: TestClient, orgs: Any, make_user: Any,
                                                        login: Any) -> None:
    page = client.get("/portal/feedback/new", headers={"accept": "text/html"})
    assert page.status_code == 200 and "Gửi phản ánh" in page.text and "Thị trấn Lai Cách" in page.text
    token = _csrf(page.text)
    r = client.post("/portal/feedback/new", data={
        "csrf_token": token, "category": "street-lighting", "description": "Đèn đường tắt ở ngõ 12",
        "lat": "20.951", "lon": "106.201", "area_code": "10891", "email": "chi@example.vn", "phone": "0900111222",
    }, follow_redirects=False)
    assert r.status_code == 303, r.text
    follow = r.headers["location"]
    code = follow.split("/")[-1].split("?")[0]
    page = client.get(follow)
    assert page.status_code == 200 and code in page.text and "Huyện Cẩm Giàng" in page.text
    assert "chi@example.vn" not in page.text and "0900111222" not in page.text

    # an invalid form comes back with the message, not a server error
    bad = client.post("/portal/feedback/new", data={"csrf_token": token, "category": "waste",
                                                    "description": ""})
    assert bad.status_code == 422 and "alert-error" in bad.text
    assert client.post("/portal/feedback/new", data={"category": "waste"}).status_code == 403  # no CSRF token

    officer = make_user("cb.cg", role="district_leader", org="295")
    with TestClient(client.app) as oc:
        login(officer, using=oc)
        work = oc.get("/console/feedback", headers={"accept": "text/html"})
        assert work.status_code == 200 and code in work.text
        rid = re.search(r'href="/console/feedback/([0-9a-f]{32})"', work.text).group(1)  # type: ignore[union-attr]
        detail = oc.get(f"/console/feedback/{rid}")
        assert "0900111222" in detail.text  # the unit sees the contact
        officer_token = _csrf(detail.text)
        for action, note in [("accept", ""), ("resolve", "Đã thay bóng đèn")]:
            r = oc.post(f"/console/feedback/{rid}", data={"csrf_token": officer_token, "action": action, "note": note},
                        follow_redirects=False)
            assert r.status_code == 303
        stats = oc.get("/console/feedback/stats")
        assert stats.status_code == 200 and "Huyện Cẩm Giàng" in stats.text

    page = client.get(follow)
    assert "Đã xử lý" in page.text and 'id="rate-form"' in page.text
    key = follow.split("key=")[1]
    r = client.post(f"/portal/feedback/{code}/rate", data={"csrf_token": _csrf(page.text), "key": key,
                                                           "rating": "4", "comment": "Tốt"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(follow)
    assert "4/5" in page.text and "Người phản ánh đánh giá" in page.text
    # without the key the page offers no rating form
    assert 'id="rate-form"' not in client.get(f"/portal/feedback/{code}").text


def test_public_map_page_and_geojson(client: TestClient, orgs: Any) -> None:
    client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "Rác", "lat": 20.94,
                                                  "lon": 106.33, "area_code": "10507", "email": "z@example.vn"})
    page = client.get("/portal/feedback", headers={"accept": "text/html"})
    assert page.status_code == 200 and "feedback-map" in page.text and "Rác" in page.text
    fc = client.get("/api/v1/feedback/map?bbox=106.0,20.5,106.7,21.2&status=open").json()
    assert len(fc["features"]) == 1 and fc["features"][0]["properties"]["category"] == "waste"
    assert "z@example.vn" not in str(fc)
    assert client.get("/api/v1/feedback/map?bbox=100,10,101,11").json()["features"] == []


def test_my_reports_page_lists_reports_and_notifications(client: TestClient, orgs: Any, make_user: Any,
                                                         login: Any, drain: Any) -> None:
    citizen = make_user("dan2", role="citizen", kind="citizen")
    login(citizen)
    r = client.post("/api/v1/feedback/reports", json={"category": "trees", "description": "Cây đổ chắn đường",
                                                      "area_code": "10894"})
    assert r.status_code == 201
    drain()
    page = client.get("/portal/feedback/mine", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert r.json()["code"] in page.text and "Gửi phản ánh" in page.text
    assert f"Phản ánh {r.json()['code']}: Gửi phản ánh" in page.text  # the in-app notification


def test_map_geojson_filters_cap_and_time(client: TestClient, orgs: Any) -> None:
    """The map answers the newest reports of the viewport, says when it left some out, and filters by
    status and category (written so SQLite uses the map's covering index: the answer must not change)."""
    for i, cat in enumerate(["waste", "waste", "street-lighting"]):
        assert client.post("/api/v1/feedback/reports", json={
            "category": cat, "description": f"Báo {i}", "lat": 20.94 + i / 1000, "lon": 106.33,
            "area_code": "10507"}).status_code == 201
    url = "/api/v1/feedback/map?bbox=106.0,20.5,106.7,21.2"
    fc = client.get(url).json()
    assert len(fc["features"]) == 3 and fc["truncated"] is False and fc["limit"] == 2000
    newest = fc["features"][0]["properties"]
    assert newest["category"] == "street-lighting"  # newest first
    assert datetime.fromisoformat(newest["created_at"]).utcoffset() == timedelta(0)
    capped = client.get(url + "&limit=2").json()
    assert len(capped["features"]) == 2 and capped["truncated"] is True
    assert [f["properties"]["category"] for f in client.get(url + "&category=waste").json()["features"]] == \
        ["waste", "waste"]
    assert len(client.get(url + "&status=open&category=waste,street-lighting").json()["features"]) == 3
    assert client.get(url + "&status=closed").json()["features"] == []
    assert client.get(url + "&limit=0").status_code == 422
    # a small viewport (the SQLite (lat, lon) index) and a wide one (the time-ordered index) agree
    assert client.post("/api/v1/feedback/reports", json={
        "category": "trees", "description": "Cây đổ", "lat": 21.1, "lon": 106.33, "area_code": "10507"}
    ).status_code == 201
    small = client.get("/api/v1/feedback/map?bbox=106.3,20.93,106.4,20.95").json()["features"]
    wide = client.get(url).json()["features"]
    assert [f["properties"]["code"] for f in small] == [f["properties"]["code"] for f in wide][1:]


def _jpeg_with_camera_and_gps() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "OfficerPhone 7"  # Model
    exif[0x8825] = {1: "N", 2: (20.0, 57.0, 3.0), 3: "E", 4: (106.0, 12.0, 4.0)}  # GPS IFD
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 160, 30)).save(out, format="JPEG", exif=exif)
    assert b"OfficerPhone" in out.getvalue()
    return out.getvalue()


def test_officer_resolves_with_a_photo_of_the_result(client: TestClient, orgs: Any, make_user: Any,
                                                     login: Any) -> None:
    """The unit resolves with a note and a photo of the result: the public page shows the cleaned photo
    (no camera model, no GPS) as a result, beside the reporter's own."""
    created = client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "Rác ven đường",
                                                            "lat": 20.951, "lon": 106.201, "area_code": "10891"})
    assert created.status_code == 201, created.text
    code, report_id = created.json()["code"], created.json()["id"]
    officer = make_user("cb.ketqua", role="district_leader", org="295")
    with TestClient(client.app) as oc:
        login(officer, using=oc)
        token = _csrf(oc.get(f"/console/feedback/{report_id}").text)
        assert oc.post(f"/console/feedback/{report_id}", data={"csrf_token": token, "action": "accept"},
                       follow_redirects=False).status_code == 303
        r = oc.post(f"/console/feedback/{report_id}", data={"csrf_token": token, "action": "resolve",
                                                            "note": "Đã thu gom"},
                    files=[("photos", ("ket-qua.jpg", _jpeg_with_camera_and_gps(), "image/jpeg"))],
                    follow_redirects=False)
        assert r.status_code == 303
    public = client.get(f"/api/v1/feedback/reports/{code}").json()
    assert public["status"] == "resolved"
    results = [m for m in public["media_items"] if m["kind"] == "result"]
    assert len(results) == 1 and results[0]["content_type"] == "image/jpeg"
    photo = client.get(results[0]["url"].replace("http://testserver", ""))
    assert photo.status_code == 200 and b"OfficerPhone" not in photo.content
    assert not Image.open(io.BytesIO(photo.content)).getexif()
    page = client.get(f"/portal/feedback/{code}", headers={"accept": "text/html"}).text
    assert results[0]["url"].replace("http://testserver", "") in page and "Đã thu gom" in page


def test_api_resolves_with_photos_of_the_result(client: TestClient, orgs: Any, make_user: Any, login: Any) -> None:
    """The same through the API (a unit's own app): multipart note + media; a wrong file is a 415, nothing kept."""
    created = client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "Rác ở cổng chợ",
                                                            "lat": 20.951, "lon": 106.201, "area_code": "10891"})
    code, report_id = created.json()["code"], created.json()["id"]
    login(make_user("cb.ketqua.api", role="district_leader", org="295"))
    assert client.post(f"/api/v1/feedback/reports/{report_id}/actions", json={"action": "accept"}).status_code == 200
    url = f"/api/v1/feedback/reports/{report_id}/resolve"
    bad = client.post(url, data={"note": "Xong"}, files=[("media", ("x.jpg", b"%PDF-1.4 not a photo", "image/jpeg"))])
    assert bad.status_code == 415 and bad.headers["content-type"] == "application/problem+json"
    assert client.get(f"/api/v1/feedback/reports/{code}").json()["status"] == "accepted"
    assert client.post(url, data={"note": ""}).status_code == 422
    r = client.post(url, data={"note": "Đã thu gom, rửa sạch"},
                    files=[("media", ("ket-qua.jpg", _jpeg_with_camera_and_gps(), "image/jpeg"))])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    public = client.get(f"/api/v1/feedback/reports/{code}").json()
    results = [m for m in public["media_items"] if m["kind"] == "result"]
    assert len(results) == 1
    photo = client.get(results[0]["url"].replace("http://testserver", ""))
    assert b"OfficerPhone" not in photo.content
    assert client.post(url, data={"note": "lần nữa"}).status_code == 409  # already resolved
