"""Helper of the bus tests: a test table, a handler that records its effect, and the crash-test child.

Run as a script (``python bus_crash_child.py DB_URL BUS_URL DATA_DIR``) it commits a state change
together with its event, and kills itself with SIGKILL from inside the commit hook — before any
dispatcher gets a chance to deliver the event. It prints the event id first.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from smartprovince.core import bus
from smartprovince.core.db import Database
from smartprovince.core.ids import new_id

EFFECT_DDL = (
    "CREATE TABLE IF NOT EXISTS bus_test_effect (id VARCHAR(32) PRIMARY KEY, event_id VARCHAR(32), "
    "handler VARCHAR(100) NOT NULL, note VARCHAR(200))"
)
CRASH_TOPIC = "test.crash.dossier.received"
CRASH_HANDLER = "test.crash.record"


def create_effect_table(db: Database) -> None:
    with db.session() as s:
        s.execute(text(EFFECT_DDL))


def add_effect(session: Session, *, event_id: str | None, handler: str, note: str = "") -> None:
    session.execute(
        text("INSERT INTO bus_test_effect (id, event_id, handler, note) VALUES (:id, :e, :h, :n)"),
        {"id": new_id(), "e": event_id, "h": handler, "n": note},
    )


def count_effects(db: Database, handler: str, event_id: str | None = None) -> int:
    sql = "SELECT COUNT(*) FROM bus_test_effect WHERE handler = :h"
    params: dict[str, Any] = {"h": handler}
    if event_id is not None:
        sql += " AND event_id = :e"
        params["e"] = event_id
    with db.session() as s:
        return int(s.execute(text(sql), params).scalar_one())


def register_crash_handler() -> None:
    @bus.subscribe("test.crash.>", name=CRASH_HANDLER)
    def record(session: Session, ev: bus.Event) -> None:
        add_effect(session, event_id=ev.id, handler=CRASH_HANDLER, note=str(ev.payload.get("dossier")))


def main(db_url: str, bus_url: str, data_dir: str) -> None:
    from smartprovince.settings import Settings

    settings = Settings(
        environment="test",
        database_url=db_url,
        bus_url=bus_url,
        data_dir=data_dir,
        secret_key="crash-test",
        load_demo=False,
        bus_retry_base_seconds=0.01,
    )
    db = Database(db_url)
    register_crash_handler()
    running = bus.Bus(settings, db)
    running.poll_seconds = 3600  # only the commit hook could wake it, and the kill below runs first
    running.start()

    def die_after_commit(session: Session) -> None:
        if session.info.get(bus.PUBLISHED_FLAG):  # the commit of our change (not the dispatcher's own work)
            os.kill(os.getpid(), signal.SIGKILL)

    # insert=True: runs before the bus's own hook, which would wake the dispatcher
    sa_event.listen(db.sessionmaker, "after_commit", die_after_commit, insert=True)
    with db.session() as s:
        add_effect(s, event_id=None, handler="state", note="dossier D-1 received")
        event_id = bus.publish(s, CRASH_TOPIC, {"dossier": "D-1"}, key="D-1")
        sys.stdout.write(event_id + "\n")
        sys.stdout.flush()
    sys.exit(3)  # never reached: the process is killed right after the commit


if __name__ == "__main__":
    main(*sys.argv[1:4])
