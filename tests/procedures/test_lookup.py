"""Public tracking by code and lookup key (``GET /api/v1/procedures/lookup``), as a browser or an app calls it."""

from __future__ import annotations

from smartprovince.procedures.schemas import TrackingPublic

LOOKUP = "/api/v1/procedures/lookup"


def _submit(client, api):  # type: ignore[no-untyped-def]
    body = {"procedure_code": "1.001193", "agency_code": "10792",
            "applicant": {"name": "Nguyễn Thị Hoa", "cccd": "030190001234", "phone": "0912345678"}}
    r = client.post("/api/v1/procedures/dossiers", json=body, headers=api("citizen"))
    assert r.status_code == 201, r.text
    return r.json()


def test_lookup_answers_the_public_view_as_json_without_personal_data(api, client) -> None:
    d = _submit(client, api)
    r = client.get(LOOKUP, params={"code": d["code"], "key": d["lookup_key"].lower()})  # the key is not case-sensitive
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == set(TrackingPublic.model_fields)  # exactly the documented fields
    assert TrackingPublic.model_validate(body).code == d["code"]
    assert body["status"] == 1 and body["applicant_initials"] == "N.T.H."
    assert [e["verb"] for e in body["timeline"]] == ["submit"]
    assert body["submitted_at"].endswith("Z")  # UTC, as every other datetime of the API
    for personal in ("Nguyễn", "030190001234", "0912345678", d["lookup_key"]):
        assert personal not in r.text


def test_lookup_gives_one_answer_for_a_wrong_key_and_an_unknown_code(api, client) -> None:
    d = _submit(client, api)
    wrong_key = client.get(LOOKUP, params={"code": d["code"], "key": "WRONGKEY"})
    unknown = client.get(LOOKUP, params={"code": d["code"] + "9", "key": d["lookup_key"]})
    for r in (wrong_key, unknown):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"] == "No dossier with this code and lookup key."


def test_lookup_refuses_bad_input_with_422_problem(client) -> None:
    for params in ({"code": "ab", "key": "ABCDEFGH"}, {"code": "10792-260302-0001"}, {"key": "ABCDEFGH"},
                   {"code": "x" * 61, "key": "ABCDEFGH"}, {"code": "10792-260302-0001", "key": "K" * 17}):
        r = client.get(LOOKUP, params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"].startswith("application/problem+json")


def test_lookup_works_the_same_for_a_logged_in_caller(api, client) -> None:
    d = _submit(client, api)
    anonymous = client.get(LOOKUP, params={"code": d["code"], "key": d["lookup_key"]})
    officer = client.get(LOOKUP, params={"code": d["code"], "key": d["lookup_key"]}, headers=api("onestop"))
    assert officer.status_code == 200 and officer.json() == anonymous.json()
