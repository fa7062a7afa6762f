"""``smartprovince sensing …``: the MQTT bridge worker, the live simulator, raw-data retention, device keys."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from datetime import timedelta

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console

cli = typer.Typer(help="Cảm biến IoT: cầu nối MQTT, mô phỏng dữ liệu, lưu giữ dữ liệu thô.", no_args_is_help=True)
console = Console()

RETENTION_ENV = "SMARTPROVINCE_SENSING_RAW_RETENTION_DAYS"
"""Days of raw observations to keep (rollups are kept for ever); default 365."""


def retention_days() -> int:
    """The raw-data retention setting (``SMARTPROVINCE_SENSING_RAW_RETENTION_DAYS``, default 365)."""
    from pydantic import ValidationError

    from smartprovince.sensing.retention import RetentionSettings

    try:
        return RetentionSettings().raw_retention_days
    except ValidationError:
        raise typer.BadParameter(f"{RETENTION_ENV} must be a whole number of days, at least 1") from None


def _db():  # type: ignore[no-untyped-def]
    from smartprovince.core.db import Database
    from smartprovince.settings import get_settings

    s = get_settings()
    return s, Database(s.db_url)


@cli.command("mqtt-bridge")
def mqtt_bridge(url: str = typer.Option(None, help="Broker URL; default SMARTPROVINCE_MQTT_URL"),
                share_group: str = typer.Option(None, help="Shared subscription group: bridges in one group "
                                                "split the messages ($share/<group>/v1.1/+/Observations)"),
                client_id: str = typer.Option(None, help="MQTT client id (keep it stable: the broker keeps "
                                              "the session's unacknowledged messages under it)")) -> None:
    """Run the MQTT → database bridge as its own worker process (stops on Ctrl+C or SIGTERM)."""
    from smartprovince.sensing.mqtt import MqttBridge

    settings, db = _db()
    target = url or settings.mqtt_url
    if not target:
        console.print("[red]Set SMARTPROVINCE_MQTT_URL or --url (mqtt://127.0.0.1:1883).[/red]")
        raise typer.Exit(2)
    bridge = MqttBridge(db, target, share_group=share_group, client_id=client_id)
    bridge.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(f"Bridge on {bridge.host}:{bridge.port}, topic {bridge.topic_filter}. Ctrl+C to stop.")
    try:
        while not stop.wait(5):
            console.print(f"stored {bridge.stored} · queued {bridge.queued} · dead letters {bridge.rejected} · "
                          f"duplicates skipped {bridge.duplicates} · connections {bridge.connects}")
    except KeyboardInterrupt:
        pass
    bridge.stop()


@cli.command()
def simulate(
    interval: float = typer.Option(10.0, help="Seconds between two rounds of values"),
    rounds: int = typer.Option(0, help="Stop after this many rounds (0 = run until Ctrl+C)"),
    mqtt: bool = typer.Option(False, "--mqtt", help="Publish to the MQTT broker instead of writing the database"),
) -> None:
    """Stream live values for every demo station (continuing the demo history) — for the live demo."""
    from smartprovince.core import clock
    from smartprovince.core.security import SYSTEM
    from smartprovince.sensing import demo, ingest, service
    from smartprovince.sensing.models import Datastream, ObservedProperty, Thing

    settings, db = _db()
    spec = {st["key"]: st for st in demo.load_spec()["stations"]}
    rng = random.Random()  # noqa: S311 - simulated readings, not security
    start = clock.now() - timedelta(days=demo.HISTORY_DAYS)
    with db.session(write=False) as s:
        rows = s.execute(sa.select(Datastream.id, Thing.properties, ObservedProperty.properties).join(
            Thing, Datastream.thing_id == Thing.id).join(ObservedProperty)).all()
    models = {}
    for ds_id, tprops, oprops in rows:
        key, code = (tprops or {}).get("key"), (oprops or {}).get("code")
        if key in spec and code:
            models[ds_id] = demo.Model(spec[key], code, rng, start)
    if not models:
        console.print("[yellow]No demo stations: run `smartprovince demo load` first.[/yellow]")
        raise typer.Exit(1)
    client = None
    if mqtt:
        import paho.mqtt.client as paho

        from smartprovince.sensing.mqtt import parse_url

        host, port, user, password = parse_url(settings.mqtt_url or "mqtt://127.0.0.1:1883")
        client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
        if user:
            client.username_pw_set(user, password)
        client.connect(host, port)
        client.loop_start()
    n = 0
    try:
        while rounds == 0 or n < rounds:
            t = clock.now()
            values = {ds_id: m.value(t) for ds_id, m in models.items()}
            if client is not None:
                for ds_id, v in values.items():
                    payload = orjson.dumps({"phenomenonTime": t.isoformat(), "result": v})
                    client.publish(f"v1.1/Datastreams({ds_id})/Observations", payload, qos=1)
            else:
                with db.session() as s:
                    obs = [ingest.ObservationIn(datastream_id=k, phenomenon_time=t, result=v)
                           for k, v in values.items()]
                    ds = ingest.check_datastreams(s, SYSTEM, set(values))
                    for o in obs:
                        o.feature_of_interest_id = service.feature_for_datastream(s, ds[o.datastream_id])
                    ingest.store_observations(s, actor=SYSTEM, observations=obs, datastreams=ds,
                                              audit_action="sensing.observation.simulate")
            n += 1
            console.print(f"{t:%H:%M:%S} — {len(values)} values")
            if rounds == 0 or n < rounds:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if client is not None:
            client.loop_stop()
            client.disconnect()


@cli.command()
def purge(days: int = typer.Option(None, help=f"Keep this many days; default {RETENTION_ENV} (365)")) -> None:
    """Delete raw observations older than the retention period (hourly and minute rollups stay)."""
    from smartprovince.core import clock
    from smartprovince.core.security import SYSTEM
    from smartprovince.sensing import ingest

    keep = days if days is not None else retention_days()
    _, db = _db()
    with db.session() as s:
        count = ingest.purge_raw(s, actor=SYSTEM, older_than=clock.now() - timedelta(days=keep))
    console.print(f"Deleted {count} observations older than {keep} days.")


def add_mosquitto_password(path: str, user: str, secret: str) -> None:
    """Add or replace ``user`` in a Mosquitto password file with the ``mosquitto_passwd`` program."""
    import shutil
    import subprocess

    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        raise typer.BadParameter("mosquitto_passwd is not installed (Debian: apt-get install mosquitto)")
    create = ["-c"] if not os.path.exists(path) else []
    # -b takes the secret as an argument (the program's only batch mode); it runs for milliseconds.
    done = subprocess.run([exe, *create, "-b", path, user, secret], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise typer.BadParameter(f"mosquitto_passwd failed: {done.stderr.strip() or done.stdout.strip()}")


@cli.command()
def credential(
    thing_id: int,
    mosquitto_passwd: str = typer.Option(None, help="Also add the device to this Mosquitto password file"),
) -> None:
    """Issue a new device credential for a Thing and print it (Basic / MQTT user ``thing-<id>``)."""
    from smartprovince.core.security import SYSTEM
    from smartprovince.sensing import service

    _, db = _db()
    with db.session() as s:
        secret = service.issue_device_credential(s, actor=SYSTEM, thing_id=thing_id)
    user = f"{service.DEVICE_PREFIX}{thing_id}"
    if mosquitto_passwd:
        add_mosquitto_password(mosquitto_passwd, user, secret)
    console.print(f"user: {user}\nsecret: {secret}", soft_wrap=True)


@cli.command("mosquitto-acl")
def mosquitto_acl(
    output: str = typer.Option(None, help="Write the ACL to this file (default: print it)"),
    bridge_user: str = typer.Option(None, help="Broker user of the bridge (may read every observation topic)"),
) -> None:
    """Mosquitto ACL: each device ``thing-<id>`` publishes only to its own datastreams' topics."""
    from smartprovince.sensing import queries

    _, db = _db()
    with db.session(write=False) as s:
        text = queries.mosquitto_acl(s, bridge_user=bridge_user)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        console.print(f"Wrote {output}; send Mosquitto a SIGHUP to reload it.")
    else:
        typer.echo(text, nl=False)


@cli.command("dead-letters")
def dead_letters(limit: int = typer.Option(20, min=1, max=1000, help="Số thư lỗi mới nhất / newest first")) -> None:
    """Thư lỗi MQTT: messages the bridge could not store (newest first) — time, topic, reason, payload."""
    from smartprovince.sensing.models import MqttDeadLetter

    _, db = _db()
    with db.session(write=False) as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(MqttDeadLetter)) or 0
        rows = list(session.scalars(sa.select(MqttDeadLetter).order_by(MqttDeadLetter.id.desc()).limit(limit)))
        for d in rows:
            preview = d.payload[:120].decode("utf-8", "replace")
            more = f" … ({d.size} bytes)" if d.size > 120 else ""
            console.print(f"{d.received_at:%Y-%m-%d %H:%M:%S} {d.topic} — {d.reason}\n    {preview!r}{more}",
                          soft_wrap=True, markup=False)
    console.print(f"Thư lỗi MQTT / MQTT dead letters: {len(rows)} of {total} shown.")
    db.dispose()
