"""The public faces of the data hub: HTTP API, CKAN Action API (with the real ckanapi client), DCAT-AP
(validated with pyshacl against the official shapes), downloads, and the rule that personal-data
fields never appear in any public response or file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from smartprovince import identity
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import service

from .conftest import PHONE, SCHOOL_FIELDS, csv_bytes

SHAPES = Path(__file__).with_name("shapes")


@pytest.fixture
def internal(database, settings, loaded):  # type: ignore[no-untyped-def]
    """An internal dataset of the Department of Health with data."""
    with database.session() as s:
        org = identity.get_org_by_code(s, "so-yt")
        service.define_dataset(s, actor=SYSTEM, name="noi-bo", org_id=org.id, title="Nội bộ", sector="health",
                               public=False, licence="internal", fields=SCHOOL_FIELDS, key=["ma"])
        service.load_file(s, actor=SYSTEM, name="noi-bo", source=csv_bytes([["N1", "Bí mật", "288", "1", "", "",
                                                                            "", PHONE]]),
                          filename="n.csv", data_dir=settings.data_dir)


def test_officer_defines_and_loads_through_the_api(client, make_user, login, orgs, units_list) -> None:
    officer = make_user("dl", role="data_officer", org="so-gd")
    login(officer)
    body = {"name": "diem-thi", "org_id": "so-gd", "title": "Điểm thi", "sector": "education",
            "fields": [{"name": "sbd", "title": "Số báo danh"}, {"name": "diem", "title": "Điểm", "type": "number",
                                                                   "minimum": 0, "maximum": 10}], "key": ["sbd"]}
    r = client.post("/api/v1/datahub/datasets", json=body)
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/datahub/datasets", json=body).status_code == 409
    assert client.post("/api/v1/datahub/datasets", json={**body, "name": "x2", "org_id": "so-yt"}).status_code == 422
    r = client.post("/api/v1/datahub/datasets/diem-thi/loads", files={"file": ("d.csv", b"sbd,diem\nA1,8.5\nA2,11\n")})
    assert r.status_code == 201
    report = r.json()
    assert report["status"] == "rejected"
    assert report["errors"][0] | {"message": ""} == {"row": 2, "field": "diem", "code": "out_of_range", "value": "11",
                                                     "message": "", "level": "error"}
    r = client.post("/api/v1/datahub/datasets/diem-thi/loads", files={"file": ("d.csv", b"sbd,diem\nA1,8.5\n")})
    assert r.json()["status"] == "loaded"
    assert client.get(f"/api/v1/datahub/datasets/diem-thi/loads/{r.json()['id']}").status_code == 200
    records = client.get("/api/v1/datahub/datasets/diem-thi/records").json()
    assert records["records"] == [{"_id": 1, "sbd": "A1", "diem": 8.5}]
    assert client.get("/api/v1/datahub/datasets/diem-thi/quality").json()[0]["correct"] == 100.0
    r = client.patch("/api/v1/datahub/datasets/diem-thi", json={"fields": [{"name": "sbd", "title": "SBD"}]})
    assert r.status_code == 409  # a field with data cannot be removed


def test_citizen_cannot_manage(client, make_user, login, schools) -> None:
    login(make_user("cd", role="citizen", kind="citizen", cccd="030190001234"))
    assert client.post("/api/v1/datahub/datasets/truong-hoc/loads", files={"file": ("d.csv", b"a\n1\n")}).status_code \
        == 403
    anon = client.__class__(client.app)
    assert anon.post("/api/v1/datahub/codelists", json={"code": "ab", "name": "x"}).status_code == 401


def test_records_filters_search_sort(client, loaded) -> None:
    r = client.get("/api/v1/datahub/datasets/truong-hoc/records", params={"filters": json.dumps({"huyen": "288"}),
                                                                       "sort": "so_hoc_sinh desc"})
    assert [x["ma"] for x in r.json()["records"]] == ["T1", "T2"]
    r = client.get("/api/v1/datahub/datasets/truong-hoc/records", params={"q": "chí linh"})
    assert [x["ma"] for x in r.json()["records"]] == ["T3"]
    assert client.get("/api/v1/datahub/datasets/truong-hoc/records", params={"sort": "nope"}).status_code == 422
    assert client.get("/api/v1/datahub/datasets/truong-hoc/records", params={"filters": "[1]"}).status_code == 422


def test_personal_fields_never_public(client, settings, make_user, login, loaded, internal) -> None:
    """Every public response and file, and the internal dataset, are free of the personal field's values."""
    bodies = []
    for url in ["/api/v1/datahub/datasets", "/api/v1/datahub/datasets/truong-hoc",
                "/api/v1/datahub/datasets/truong-hoc/records", "/api/3/action/package_show?id=truong-hoc",
                "/api/3/action/package_search", "/api/3/action/datastore_search?resource_id=truong-hoc",
                '/api/3/action/datastore_search?resource_id=truong-hoc&q=0912&fields=_id,ten',
                "/catalog.ttl", "/catalog.jsonld", "/dataset/truong-hoc.ttl", "/opendata", "/opendata/search",
                "/opendata/truong-hoc", "/opendata/truong-hoc/download/csv", "/opendata/truong-hoc/download/json",
                '/api/3/action/datastore_search?resource_id=truong-hoc&filters={"huyen":"288"}&sort=ma desc',
                '/api/v1/datahub/datasets/truong-hoc/records?filters={"huyen":["288","290"]}']:
        r = client.get(url)
        assert r.status_code == 200, url
        bodies.append((url, r.text))
    for url, text in bodies:
        assert PHONE not in text and "dien_thoai" not in text, url
        assert "noi-bo" not in text and "Bí mật" not in text, url
    parquet = client.get("/opendata/truong-hoc/download/parquet")
    path = settings.data_dir / "dl.parquet"
    path.write_bytes(parquet.content)
    cols = [c[0] for c in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    assert "dien_thoai" not in cols and "ten" in cols
    # Asking for the personal field is refused, not answered.
    r = client.get("/api/3/action/datastore_search", params={"resource_id": "truong-hoc", "fields": "dien_thoai"})
    assert r.status_code == 409 and r.json()["success"] is False
    assert client.get("/api/v1/datahub/datasets/noi-bo").status_code == 404
    assert client.get("/opendata/noi-bo").status_code == 404
    # An officer with permission over the organisation sees the personal field through /api/v1 only.
    login(make_user("gd", role="data_officer", org="so-gd"))
    records = client.get("/api/v1/datahub/datasets/truong-hoc/records").json()["records"]
    assert records[0]["dien_thoai"] == PHONE
    assert client.get("/api/v1/datahub/datasets/noi-bo").status_code == 404  # another department's internal data
    assert PHONE not in client.get("/api/3/action/datastore_search?resource_id=truong-hoc").text


def test_ckan_envelope_and_errors(client, loaded) -> None:
    r = client.get("/api/3/action/package_show", params={"id": "khong-co"})
    assert r.status_code == 404
    assert r.json()["success"] is False and r.json()["error"]["__type"] == "Not Found Error"
    assert "help" in r.json()
    r = client.post("/api/3/action/package_search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.get("/api/3/action/no_such_action")
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.get("/api/3/action/package_search", params={"rows": "abc"})
    assert r.status_code == 409 and r.json()["error"]["__type"] == "Validation Error"


def test_ckanapi_client_against_the_running_app(live_server, loaded) -> None:
    from ckanapi import NotFound, RemoteCKAN

    with RemoteCKAN(live_server) as ckan:
        assert ckan.action.status_show()["ckan_version"].startswith("2.")
        assert ckan.action.package_list() == ["truong-hoc"]
        pkg = ckan.action.package_show(id="truong-hoc")
        assert pkg["organization"]["name"] == "so-gd" and [r["format"] for r in pkg["resources"]] == [
            "CSV", "JSON", "Parquet"]
        found = ckan.action.package_search(q="trường", fq="groups:education", rows=5,
                                           **{"facet.field": ["organization", "tags"]})
        assert found["count"] == 1 and found["facets"]["tags"] == {"giáo dục": 1}
        assert ckan.action.package_search(fq="tags:y-te")["count"] == 0
        assert ckan.action.organization_list() == ["so-gd"]
        assert ckan.action.organization_show(id="so-gd")["package_count"] == 1
        assert ckan.action.group_list() == ["education"]
        assert ckan.action.tag_list() == ["giáo dục"]
        rid = pkg["resources"][0]["id"]
        assert ckan.action.resource_show(id=rid)["datastore_active"] is True
        page1 = ckan.action.datastore_search(resource_id=rid, limit=2, sort="ma desc")
        assert page1["total"] == 3 and [x["ma"] for x in page1["records"]] == ["T3", "T2"]
        page2 = ckan.action.datastore_search(resource_id=rid, limit=2, offset=2, sort="ma desc")
        assert [x["ma"] for x in page2["records"]] == ["T1"]
        hits = ckan.action.datastore_search(resource_id=rid, filters={"huyen": "290"}, fields=["ma", "ten"])
        assert hits["records"] == [{"ma": "T3", "ten": "Trường THPT Chí Linh"}]
        assert {f["id"] for f in page1["fields"]} == {"_id", "ma", "ten", "huyen", "so_hoc_sinh", "diem_tb", "chuan",
                                                     "ngay"}
        with pytest.raises(NotFound):
            ckan.action.package_show(id="khong-co")


def test_datastore_search_total_the_ckan_way(client, settings, loaded, monkeypatch) -> None:
    """``include_total`` and ``total_estimation_threshold`` behave as CKAN's; the key filter uses its index copy."""
    from smartprovince.datahub import store

    url = "/api/3/action/datastore_search"
    r = client.get(url, params={"resource_id": "truong-hoc", "include_total": "false"}).json()["result"]
    assert "total" not in r and r["include_total"] is False and len(r["records"]) == 3
    r = client.get(url, params={"resource_id": "truong-hoc"}).json()["result"]
    assert r["total"] == 3 and r["total_was_estimated"] is False and r["total_estimation_threshold"] is None
    # A word search counted over the first 2 rows only: 2 of 2 match "Trường", estimate 3 > threshold 1.
    monkeypatch.setattr(store, "ESTIMATE_SAMPLE_ROWS", 2)
    r = client.get(url, params={"resource_id": "truong-hoc", "q": "Trường", "total_estimation_threshold": 1}).json()
    assert r["result"]["total"] == 3 and r["result"]["total_was_estimated"] is True
    # At or under the threshold the exact count is returned: "Chí" is in row 3 only, so the estimate is 0.
    r = client.get(url, params={"resource_id": "truong-hoc", "q": "Chí", "total_estimation_threshold": 1}).json()
    assert r["result"]["total"] == 1 and r["result"]["total_was_estimated"] is False
    r = client.get(url, params={"resource_id": "truong-hoc", "total_estimation_threshold": "nhiều"})
    assert r.status_code == 409 and r.json()["error"]["total_estimation_threshold"] == ["Invalid integer"]
    # The key field has an index copy, and a filter on it answers from it.
    snapshots = sorted(p.name for p in (settings.data_dir / "datahub").rglob("*.parquet"))
    assert any(n.endswith("-public.by-ma.parquet") for n in snapshots)
    assert not any("dien_thoai" in n for n in snapshots)
    r = client.get(url, params={"resource_id": "truong-hoc", "filters": '{"ma": ["T2", "T9"]}'}).json()["result"]
    assert [x["ten"] for x in r["records"]] == ["Trường THCS Bình Hàn"] and r["total"] == 1


@pytest.mark.parametrize("url", ["/catalog.ttl", "/dataset/truong-hoc.ttl", "/catalog.jsonld"])
def test_dcat_conforms_to_the_shapes(client, loaded, url) -> None:
    from pyshacl import validate
    from rdflib import Graph
    from rdflib.namespace import DCTERMS, SH

    r = client.get(url)
    assert r.status_code == 200
    data = Graph().parse(data=r.text, format="json-ld" if url.endswith("jsonld") else "turtle")
    shapes = Graph()
    for name in ("shapes.ttl", "range.ttl"):
        shapes.parse(SHAPES / name, format="turtle")
    conforms, _graph, text = validate(data, shacl_graph=shapes, inference="none")
    assert conforms, text
    # The combined file of the release too (it also checks the class of access and download URLs).
    conforms, _graph, text = validate(data, shacl_graph=Graph().parse(SHAPES / "dcat-ap-SHACL.ttl", format="turtle"),
                                      inference="none")
    assert conforms, text
    # The recommended properties are all given but the place and period covered (not recorded yet).
    recommended = Graph()
    for name in ("shapes_recommended.ttl", "range.ttl"):
        recommended.parse(SHAPES / name, format="turtle")
    _conforms, report, _text = validate(data, shacl_graph=recommended, inference="none")
    paths = {str(p) for p in report.objects(None, SH.resultPath)}
    assert paths <= {str(DCTERMS.spatial), str(DCTERMS.temporal)}, paths
    assert "Schools" in r.text and "Trường học" in r.text
    assert client.get("/dataset/khong-co.ttl").status_code == 404


def test_downloads_stream_every_row(client, loaded) -> None:
    r = client.get("/opendata/truong-hoc/download/csv")
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "_id,ma,ten,huyen,so_hoc_sinh,diem_tb,chuan,ngay" and len(lines) == 4
    rows = client.get("/opendata/truong-hoc/download/json").json()
    assert rows[1]["ngay"] == "2001-09-05"
    assert client.get("/opendata/truong-hoc/download/xml").status_code in (404, 422)


def test_codelist_api(client, make_user, login, units_list) -> None:
    assert client.get("/api/v1/datahub/codelists").json()[0]["code"] == "don-vi-hanh-chinh"
    login(make_user("ad", role="admin"))
    assert client.post("/api/v1/datahub/codelists", json={"code": "dan-toc", "name": "Dân tộc"}).status_code == 201
    r = client.post("/api/v1/datahub/codelists/dan-toc/versions",
                    json={"effective_from": "2024-01-01", "items": [{"code": "01", "label": "Kinh"}]})
    assert r.status_code == 201 and r.json()["version"] == 1
    assert client.get("/api/v1/datahub/codelists/dan-toc").json()["versions"][0]["items"][0]["label"] == "Kinh"
    assert client.get("/api/v1/datahub/codelists/none").status_code == 404




def test_portal_search_by_sector_agency_tag_and_the_dataset_page(client, database, settings, loaded) -> None:
    """Anyone finds a dataset by words, sector, agency and tag, and its page shows preview, quality, downloads, API."""
    with database.session() as s:
        org = identity.get_org_by_code(s, "so-yt")
        service.define_dataset(s, actor=SYSTEM, name="benh-vien", org_id=org.id, title="Bệnh viện", sector="health",
                               tags=["y tế"], fields=[{"name": "ma", "title": "Mã"}], key=["ma"])

    def found(**params: str) -> list[str]:
        text = client.get("/opendata/search", params=params).text
        return [n for n in ("truong-hoc", "benh-vien") if f'href="/opendata/{n}"' in text]

    assert found() == ["truong-hoc", "benh-vien"]
    assert found(sector="education") == ["truong-hoc"] and found(sector="health") == ["benh-vien"]
    assert found(org="so-yt") == ["benh-vien"] and found(tag="giáo dục") == ["truong-hoc"]
    assert found(q="trường") == ["truong-hoc"] and found(q="schools") == ["truong-hoc"]  # English title too
    assert found(q="không có") == [] and found(sector="health", tag="giáo dục") == []
    home = client.get("/opendata").text
    assert "Trường học" in home and "Bệnh viện" in home
    page = client.get("/opendata/truong-hoc").text
    assert 'id="preview"' in page and "Trường THPT Chí Linh" in page and "Schools" in page
    assert 'id="quality"' in page and "Sạch" in page
    for fmt in ("csv", "json", "parquet"):
        assert f'href="/opendata/truong-hoc/download/{fmt}"' in page
    assert 'id="api-examples"' in page and "/api/3/action/datastore_search?resource_id=" in page
    assert PHONE not in page and "Điện thoại hiệu trưởng" not in page
    # The resource id the page's API example names answers the CKAN datastore_search call.
    rid = page.split("datastore_search?resource_id=")[1].split("&")[0]
    assert client.get("/api/3/action/datastore_search", params={"resource_id": rid}).json()["result"]["total"] == 3
    # Too long a query is a 4xx, not a 500.
    assert client.get("/opendata/search", params={"q": "x" * 500}).status_code == 422



def test_dataset_page_explains_the_api_key_and_a_token_reads_internal_fields(client, database, make_user,
                                                                              loaded) -> None:
    """Open data needs no key; an officer's personal token (Authorization: Bearer) reads the personal field."""
    page = client.get("/opendata/truong-hoc").text
    assert 'id="api-key"' in page and "Dữ liệu mở không cần khóa API." in page and 'href="/profile"' in page
    en = client.get("/opendata/truong-hoc", headers={"accept-language": "en"}).text
    assert "Open data needs no API key." in en
    officer = make_user("gd2", role="data_officer", org="so-gd")
    with database.session() as s:
        token = identity.issue_token(s, user_id=officer.id, name="api")
    anon = client.__class__(client.app)
    url = "/api/v1/datahub/datasets/truong-hoc/records"
    assert PHONE not in anon.get(url).text
    records = anon.get(url, headers={"authorization": f"Bearer {token}"}).json()["records"]
    assert records[0]["dien_thoai"] == PHONE
    assert anon.get(url, headers={"authorization": "Bearer wrong"}).status_code == 401
