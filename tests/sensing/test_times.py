"""Times: ISO 8601 / SensorThings separate the date and the time with ``T`` only.

``datetime.fromisoformat`` accepts any one character there (``2026-03-01X00:00:00Z``,
``2026-03-01 00:00:00Z``); such a time is refused with 400 problem+json wherever a time comes in.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from smartprovince.core.errors import BadRequest
from smartprovince.sensing import service
from smartprovince.sensing.models import Observation
from smartprovince.sensing.sta import parse_interval, parse_time

from .conftest import STA, create_thing

BAD = ["2026-03-01X00:00:00Z", "2026-03-01 00:00:00Z", "2026-03-01t00:00:00Z", "2026-03-01_00:00:00+07:00",
       "20260301X000000Z", "2026-W09-1X00:00:00Z"]
GOOD = ["2026-03-01T00:00:00Z", "2026-03-01T07:00:00+07:00", "2026-03-01T00:00:00.250Z", "20260301T000000Z",
        "2026-W09-1T00:00:00Z"]


@pytest.mark.parametrize("text", BAD)
def test_parse_time_refuses_a_separator_other_than_t(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_time(text, "phenomenonTime")
    with pytest.raises(BadRequest):
        parse_interval(f"2026-02-01T00:00:00Z/{text}", "phenomenonTime")
    with pytest.raises(BadRequest):
        parse_interval(f"{text}/2026-04-01T00:00:00Z", "phenomenonTime")


@pytest.mark.parametrize("text", GOOD)
def test_parse_time_keeps_iso_8601_forms(text: str) -> None:
    assert parse_time(text, "phenomenonTime").tzinfo is not None
    start, end = parse_interval(f"{text}/2026-04-01T00:00:00Z", "phenomenonTime")
    assert end is not None and start <= end


def test_plain_blocks_leave_bad_separators_to_the_checked_path() -> None:
    """The MQTT bridge and DataArray share ``plain_block``: a bad separator is not a plain row."""
    for text in BAD:
        assert service.plain_block([[text, 1.0]], 7) is None, text
        assert service.plain_block([(text, 1.0)], 7) is None, text


def _count(database: Any, ds: int) -> int:
    with database.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Observation).where(Observation.datastream_id == ds))


def test_http_refuses_times_with_another_separator(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    ds = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    good = [[f"2026-03-01T00:00:{i:02d}Z", 1.5] for i in range(20)]
    for text in BAD:
        bodies = [
            (f"{STA}/Observations", {"phenomenonTime": text, "result": 1, "Datastream": {"@iot.id": ds}}),
            (f"{STA}/Datastreams({ds})/Observations", {"phenomenonTime": text, "result": 1}),
            (f"{STA}/Observations", {"phenomenonTime": f"2026-02-01T00:00:00Z/{text}", "result": 1,
                                     "Datastream": {"@iot.id": ds}}),
            (f"{STA}/Observations", {"phenomenonTime": "2026-03-01T00:00:00Z", "resultTime": text, "result": 1,
                                     "Datastream": {"@iot.id": ds}}),
            (f"{STA}/Observations", {"phenomenonTime": "2026-03-01T00:00:00Z", "result": 1,
                                     "validTime": f"{text}/2026-04-01T00:00:00Z", "Datastream": {"@iot.id": ds}}),
            (f"{STA}/CreateObservations", [{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                                            "dataArray": [*good, [text, 2.0]]}]),
            (f"{STA}/CreateObservations", [{"Datastream": {"@iot.id": ds},
                                            "components": ["phenomenonTime", "result", "resultTime"],
                                            "dataArray": [["2026-03-01T00:00:00Z", 2.0, text]]}]),
        ]
        for url, body in bodies:
            r = client.post(url, json=body, headers=writer)
            assert r.status_code == 400, (url, body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    assert _count(database, ds) == 0
    r = client.post(f"{STA}/Observations", headers=writer, json={
        "phenomenonTime": "2026-03-01T07:00:00+07:00", "result": 1, "Datastream": {"@iot.id": ds}})
    assert r.status_code == 201, r.text
    r = client.patch(f"{STA}/Observations({r.json()['@iot.id']})", headers=writer,
                     json={"resultTime": "2026-03-01 00:00:00Z"})
    assert r.status_code == 400, r.text


def test_times_out_of_range_after_the_zone_are_400(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    """``0001-01-01T00:00:00+01:00`` is valid text but before year 1 in UTC: 400, not a server error."""
    ds = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    for text in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(BadRequest):
            parse_time(text, "phenomenonTime")
        for url, body in (
            (f"{STA}/Observations", {"phenomenonTime": text, "result": 1, "Datastream": {"@iot.id": ds}}),
            (f"{STA}/CreateObservations", [{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                                            "dataArray": [[text, 2.0]]}]),
        ):
            r = client.post(url, json=body, headers=writer)
            assert r.status_code == 400, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        r = client.get(f"/api/v1/sensing/datastreams/{ds}/series", params={"from": text})
        assert r.status_code == 400, r.text
    r = client.get(f"/api/v1/sensing/datastreams/{ds}/series", params={"from": "2026-03-01 00:00:00Z"})
    assert r.status_code == 400, r.text
    assert _count(database, ds) == 0
