"""Open311 GeoReport v2: responses validate against the community's JSON Schemas, the real ``georeport``
client reads services and requests (JSON and XML), POST needs an API key and is rate-limited per client."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from PIL import Image
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from smartprovince.core.security import SYSTEM
from smartprovince.feedback import service

SCHEMAS = Path(__file__).with_name("open311_schemas")
BASE = "http://testserver/open311/v2"


# jsonschema checks "date-time" only when the optional rfc3339-validator is installed; check it here instead
# (RFC 3339: a date, "T", a time and a time zone), so a naive time in a response fails the test.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        raise ValueError("no T between date and time")
    if datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00")).tzinfo is None:
        raise ValueError("no time zone")
    return True


def _validator(name: str) -> Draft7Validator:
    resources = {p.name: Resource.from_contents(json.loads(p.read_text("utf-8")), default_specification=DRAFT7)
                 for p in SCHEMAS.glob("*.json") if p.name != "swagger.json"}
    registry = Registry().with_resources(resources.items())
    return Draft7Validator(json.loads((SCHEMAS / name).read_text("utf-8")), registry=registry,
                           format_checker=FORMATS)


def _check(name: str, data: Any) -> None:
    errors = sorted(_validator(name).iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]


def _check_swagger(definition: str, data: Any) -> None:
    """Validate against a definition of the community's Swagger 2.0 description (``swagger.json``): the POST
    answer (``RequestResponse``) and the token answer (``TokenResponse``) have no separate JSON Schema."""
    swagger = json.loads((SCHEMAS / "swagger.json").read_text("utf-8"))
    schema = {"type": "array", "minItems": 1, "items": {"$ref": f"#/definitions/{definition}"},
              "definitions": swagger["definitions"]}
    errors = sorted(Draft4Validator(schema, format_checker=FORMATS).iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]


@pytest.fixture
def api_key(database: Any) -> str:
    with database.session() as s:
        _, key = service.create_api_client(s, actor=SYSTEM, name="Ứng dụng thử", rate_per_minute=5)
    return key


class _TestClientAdapter(requests.adapters.BaseAdapter):
    """Lets the real ``requests``-based client talk to the app in-process (no network)."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        r = self.client.request(request.method or "GET", request.url or "", content=request.body,
                                headers=dict(request.headers))
        resp = requests.Response()
        resp.status_code = r.status_code
        resp._content = r.content
        resp.headers.update(r.headers)
        resp.url = request.url or ""
        resp.request = request
        return resp

    def close(self) -> None:
        pass


@pytest.fixture
def real_client(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Any:
    import georeport

    session = requests.Session()
    session.mount("http://testserver", _TestClientAdapter(client))
    monkeypatch.setattr(georeport.georeport.requests, "get", session.get)
    return georeport


def _post(client: TestClient, key: str | None, **fields: Any) -> Any:
    data = {"service_code": "street-lighting", "lat": "20.9401", "long": "106.3302", "description": "Đèn tắt cả tuần",
            "email": "binh@example.vn", "first_name": "Bình", "last_name": "Trần", "phone": "0987654321",
            "attribute[area_code]": "10507", **fields}
    if key:
        data["api_key"] = key
    return client.post("/open311/v2/requests.json", data=data)


def test_services_and_definition_validate(client: TestClient, orgs: Any) -> None:
    services = client.get("/open311/v2/services.json").json()
    _check("services.json", services)
    assert {"road-damage", "street-lighting", "waste", "flooding"} <= {s["service_code"] for s in services}
    definition = client.get("/open311/v2/services/waste.json").json()
    _check("service-definition.json", definition)
    assert any(v["key"] == "10891" for v in definition["attributes"][0]["values"])
    assert client.get("/open311/v2/services/nope.json").status_code == 404
    assert client.get("/open311/v2/services.json?jurisdiction_id=haiduong.gov.vn").status_code == 200
    assert client.get("/open311/v2/services.json?jurisdiction_id=other.example").status_code == 404
    assert client.get("/open311/v2/discovery.json").json()["endpoints"][0]["url"].endswith("/open311/v2/")
    assert client.get("/open311/v2/discovery.xml").text.startswith("<?xml")


def test_post_needs_a_key_then_requests_validate(client: TestClient, orgs: Any, api_key: str) -> None:
    assert _post(client, None).status_code == 403
    assert _post(client, "o311_wrong").status_code == 403
    r = _post(client, api_key)
    assert r.status_code == 200, r.text
    created = r.json()
    _check_swagger("RequestResponse", created)  # account_id, when present, must be a string: not sent at all
    assert created[0]["service_request_id"].startswith("PA") and created[0]["token"]
    code, token = created[0]["service_request_id"], created[0]["token"]

    one = client.get(f"/open311/v2/requests/{code}.json").json()
    _check("requests.json", one)
    assert one[0]["status"] == "open" and one[0]["agency_responsible"] == "Thành phố Hải Dương"
    text = json.dumps(one, ensure_ascii=False)
    assert "binh@example.vn" not in text and "0987654321" not in text and "Bình" not in text

    listing = client.get("/open311/v2/requests.json?status=open&service_code=street-lighting").json()
    _check("requests.json", listing)
    assert [x["service_request_id"] for x in listing] == [code]
    assert client.get("/open311/v2/requests.json?status=closed").json() == []
    by_token = client.get(f"/open311/v2/tokens/{token}.json").json()
    _check_swagger("TokenResponse", by_token)
    assert by_token == [{"service_request_id": code, "token": token}]
    # "status ... can be declared multiple times, comma delimited" (GeoReport v2)
    both = client.get("/open311/v2/requests.json?status=open,closed").json()
    _check("requests.json", both)
    assert [x["service_request_id"] for x in both] == [code]
    assert client.get("/open311/v2/requests.json?status=closed,open").json() == both
    assert client.get("/open311/v2/requests.json?status=open,nope").status_code == 400
    assert client.get("/open311/v2/requests.json?start_date=yesterday").status_code == 400
    assert _post(client, api_key, service_code="nope").status_code == 422


def test_real_client_reads_json_and_xml(real_client: Any, client: TestClient, orgs: Any, api_key: str) -> None:
    code = _post(client, api_key).json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        gr = real_client.GeoReport(BASE, jurisdiction="haiduong.gov.vn", output_format=fmt)
        services = gr.get_service_list()
        assert any(s["service_code"] == "waste" for s in services)
        definition = gr.get_service_definition("waste")
        assert definition["service_code"] == "waste"
        one = gr.get_service_request(code)
        assert one["service_request_id"] == code and one["status"] == "open"
        many = gr.get_service_requests(service_code="street-lighting")
        many = many if isinstance(many, list) else [many]  # xmltodict gives a dict for one element
        assert [m["service_request_id"] for m in many] == [code]


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "SecretPhone 9"  # Model
    exif[0x8825] = {1: "N", 2: (20.0, 56.0, 24.0), 3: "E", 4: (106.0, 19.0, 48.0)}  # GPS IFD
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert b"SecretPhone" in data
    return data


def test_media_upload_strips_exif_and_checks_type(client: TestClient, orgs: Any, api_key: str) -> None:
    data = {"api_key": api_key, "service_code": "waste", "description": "Rác đầy", "attribute[area_code]": "10891"}
    r = client.post("/open311/v2/requests.json", data=data,
                    files=[("media", ("anh.jpg", _jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 200, r.text
    code = r.json()[0]["service_request_id"]
    media_url = client.get(f"/open311/v2/requests/{code}.json").json()[0]["media_url"]
    assert media_url and "/api/v1/feedback/media/" in media_url
    photo = client.get(media_url.replace("http://testserver", ""))
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert b"SecretPhone" not in photo.content and b"PhoneMaker" not in photo.content
    assert not Image.open(io.BytesIO(photo.content)).getexif()

    bad = client.post("/open311/v2/requests.json", data=data,
                      files=[("media", ("x.jpg", b"%PDF-1.4 not a photo", "image/jpeg"))])
    assert bad.status_code == 415

    # a photo over 10 MB is refused with 413 problem+json, and nothing is created
    huge = _jpeg_with_gps() + bytes(10 * 1024 * 1024)
    before = client.get("/open311/v2/requests.json").json()
    too_big = client.post("/open311/v2/requests.json", data=data, files=[("media", ("to.jpg", huge, "image/jpeg"))])
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    assert client.get("/open311/v2/requests.json").json() == before


def test_rate_limit_per_client(client: TestClient, orgs: Any, api_key: str, database: Any) -> None:
    with database.session() as s:
        _, desk = service.create_api_client(s, actor=SYSTEM, name="Tổng đài 1022", rate_per_minute=1000)
    for _ in range(5):
        assert _post(client, api_key).status_code == 200
    assert _post(client, api_key).status_code == 429
    # the hotline desk's burst passes: it has its own, larger limit
    for _ in range(12):
        assert _post(client, desk).status_code == 200
