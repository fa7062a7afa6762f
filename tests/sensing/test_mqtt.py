"""MQTT ingestion through a real broker (Mosquitto): stored, then acknowledged. Skipped without a broker URL."""

from __future__ import annotations

import os
import random
import time

import orjson
import pytest
import sqlalchemy as sa

from smartprovince.core.security import SYSTEM
from smartprovince.sensing import service
from smartprovince.sensing.models import Datastream, Observation
from smartprovince.sensing.sta import SETS

from .conftest import THING

MQTT_URL = os.environ.get("SMARTPROVINCE_TEST_MQTT_URL")
pytestmark = pytest.mark.skipif(not MQTT_URL, reason="set SMARTPROVINCE_TEST_MQTT_URL (mqtt://127.0.0.1:1883)")


def test_observations_published_to_the_broker_are_stored(database) -> None:  # type: ignore[no-untyped-def]
    import paho.mqtt.client as paho

    from smartprovince.sensing.mqtt import MqttBridge, parse_url

    # A datastream id nobody else uses, so bridges of other tests on the same broker ignore our messages.
    ds_id = random.randint(10_000_000, 99_999_999)  # noqa: S311
    with database.session() as s:
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=THING)
        first = thing.datastreams[0]
        s.add(Datastream(id=ds_id, name="MQTT", description="", unit_of_measurement={"symbol": "m"},
                         thing_id=thing.id, sensor_id=first.sensor_id, observed_property_id=first.observed_property_id))
    bridge = MqttBridge(database, MQTT_URL, client_id=f"sp-test-{ds_id}")
    bridge.start()
    try:
        assert bridge.connected.wait(10), "bridge did not connect"
        time.sleep(0.3)
        host, port, _, _ = parse_url(MQTT_URL)
        pub = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
        pub.connect(host, port)
        pub.loop_start()
        infos = [pub.publish(f"v1.1/Datastreams({ds_id})/Observations",
                             orjson.dumps({"phenomenonTime": f"2026-05-01T00:{i:02d}:00Z", "result": i}), qos=1)
                 for i in range(50)]
        infos.append(pub.publish(f"v1.1/Datastreams({ds_id})/Observations", b"not json", qos=1))
        for info in infos:
            info.wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        deadline = time.monotonic() + 15
        count = 0
        while time.monotonic() < deadline:
            with database.session(write=False) as s:
                count = s.scalar(sa.select(sa.func.count()).select_from(Observation).where(
                    Observation.datastream_id == ds_id))
            if count == 50:
                break
            time.sleep(0.1)
        assert count == 50
        assert bridge.rejected >= 1
        with database.session(write=False) as s:
            assert s.get(Datastream, ds_id).last_value == 49
    finally:
        bridge.stop()
        from .test_mqtt_robust import _forget_session

        _forget_session(MQTT_URL, f"sp-test-{ds_id}")  # the broker would keep the session for ever

