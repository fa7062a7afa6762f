"""Round trip with the real SensorThings client library ``frost-sta-client`` against a live server."""

from __future__ import annotations

import frost_sta_client as fsc
import pytest
from frost_sta_client.model.ext import data_array_document, unitofmeasurement
from frost_sta_client.model.ext.data_array_value import DataArrayValue

from .conftest import TEST_PASSWORD


@pytest.mark.slow
def test_frost_client_creates_posts_and_reads_back(live_server, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("frost.client", role="data_officer")
    service = fsc.SensorThingsService(f"{live_server}/sta/v1.1",
                                      auth_handler=fsc.service.auth_handler.AuthHandler("frost.client", TEST_PASSWORD))
    location = fsc.Location(name="Cầu Phú Lương", description="Bờ trái sông Thái Bình",
                            encoding_type="application/geo+json",
                            location={"type": "Point", "coordinates": [106.349, 20.9425]})
    thing = fsc.Thing(name="Trạm mực nước Phú Lương", description="Đo mực nước", properties={"river": "Thái Bình"},
                      locations=[location])
    sensor = fsc.Sensor(name="Radar", description="Radar đo mực nước", encoding_type="application/pdf",
                        metadata="https://example.org/radar.pdf")
    prop = fsc.ObservedProperty(name="Mực nước", definition="http://example.org/water-level",
                                description="Mực nước sông")
    uom = unitofmeasurement.UnitOfMeasurement(name="mét", symbol="m", definition="http://qudt.org/vocab/unit/M")
    ds = fsc.Datastream(name="Mực nước Phú Lương", description="10 phút một lần", unit_of_measurement=uom,
                        observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                        thing=thing, sensor=sensor, observed_property=prop)
    service.create(ds)  # deep insert of the Thing, its Location, the Sensor and the ObservedProperty
    assert isinstance(ds.id, int)

    for i, level in enumerate([2.1, 2.4, 2.9, 3.3]):
        service.create(fsc.Observation(result=level, phenomenon_time=f"2026-10-10T0{i}:00:00Z", datastream=ds))
    dav = DataArrayValue()
    dav.datastream = ds
    dav.components = {DataArrayValue.Property.PHENOMENON_TIME, DataArrayValue.Property.RESULT}
    for i, level in enumerate([3.5, 3.6]):
        dav.add_observation(fsc.Observation(result=level, phenomenon_time=f"2026-10-10T0{4 + i}:00:00Z",
                                            datastream=ds))
    dad = data_array_document.DataArrayDocument()
    dad.add_data_array_value(dav)
    created = service.observations().create(dad)  # POST CreateObservations
    assert len(created) == 2 and all("/Observations(" in o.self_link for o in created)

    found = service.observations().query().filter("result gt 3").orderby("phenomenonTime", "asc").list()
    assert [o.result for o in found.entities] == [3.3, 3.5, 3.6]
    things = service.things().query().filter("name eq 'Trạm mực nước Phú Lương'").expand(
        "Datastreams($expand=Observations($orderby=result desc;$top=1)),Locations").list()
    assert len(things.entities) == 1
    got = things.entities[0]
    assert got.locations.entities[0].name == "Cầu Phú Lương"
    assert got.datastreams.entities[0].observations.entities[0].result == 3.6

    again = service.datastreams().find(ds.id)
    assert again.name == "Mực nước Phú Lương"
    service.delete(again)
    assert service.observations().query().list().entities == []

