"""Nguồn dữ liệu và lần kéo — scheduled pulls of a dataset from an agency API.

A dataset may declare one source: the URL of an agency API that answers JSON (a list of objects, or
``{"records": [...]}``) or CSV, an optional header whose value is a named secret setting
(``DatahubSettings.source_secrets``; never stored in the database), a schedule (every N minutes, or
a cron expression in Vietnam time) and the load mode (replace, append, upsert). A pull downloads
the answer with ``httpx`` to a temporary file and loads it with :func:`service.load_file`, so it
gets the same row-by-row report as an upload; every pull is recorded as a :class:`PullRun`.

The scheduler (``datahub.scheduler``) calls :func:`pull` for due sources; officers press "Kéo ngay"
on the dataset's console page; operators run ``smartprovince datahub pull DATASET``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core import audit, bus
from smartprovince.core.clock import now
from smartprovince.core.errors import NotFound, Problem, ValidationProblem
from smartprovince.core.security import Actor
from smartprovince.datahub import schedule, service
from smartprovince.datahub.config import DatahubSettings
from smartprovince.datahub.models import PullRun, Source
from smartprovince.datahub.queries import access_dataset

log = logging.getLogger("smartprovince.datahub.sources")

SOURCE_FORMATS = ("json", "csv")
TRIGGERS = ("schedule", "manual", "cli")
_HEADER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def safe_url(url: str) -> str:
    """The URL without its query string and credentials, for logs and messages (tokens hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def get_source(session: Session, dataset_id: str) -> Source | None:
    return session.get(Source, dataset_id)


def runs_of(session: Session, dataset_id: str, limit: int = 20) -> list[PullRun]:
    """The latest pulls of a dataset, newest first."""
    return list(session.scalars(select(PullRun).where(PullRun.dataset_id == dataset_id)
                                .order_by(PullRun.started_at.desc(), PullRun.id.desc()).limit(limit)))


def set_source(session: Session, *, actor: Actor, name: str, url: str, format: str = "json",  # noqa: A002
               auth_header: str = "", auth_secret: str = "", every_minutes: int | None = None, cron: str = "",
               mode: str = "replace", enabled: bool = True) -> Source:
    """Khai báo nguồn — declare (or change) the agency API a dataset is pulled from, and its schedule."""
    view = access_dataset(session, actor, name, manage=True)
    ds = view.dataset
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 1000:
        raise ValidationProblem("The source URL must be an http(s) URL of at most 1000 characters.", field="url")
    if format not in SOURCE_FORMATS:
        raise ValidationProblem("The source format must be json or csv.", field="format")
    if mode not in service.LOAD_MODES:
        raise ValidationProblem(f"Load mode must be one of {', '.join(service.LOAD_MODES)}.", field="mode")
    if mode == "upsert" and not ds.key:
        raise ValidationProblem("An upsert needs a dataset with a key.", field="mode")
    auth_header, auth_secret, cron = auth_header.strip(), auth_secret.strip(), (cron or "").strip()
    if auth_header and (len(auth_header) > 100 or not set(auth_header) <= _HEADER_CHARS):
        raise ValidationProblem("The header name may contain letters, digits and '-'.", field="auth_header")
    if bool(auth_header) != bool(auth_secret):
        raise ValidationProblem("Give both the header name and the name of its secret setting, or neither.",
                                field="auth_secret")
    if every_minutes is not None and not (1 <= every_minutes <= 525600):
        raise ValidationProblem("every_minutes must be between 1 and 525600 (a year).", field="every_minutes")
    if cron and every_minutes:
        raise ValidationProblem("Give either every_minutes or cron, not both.", field="cron")
    next_at = schedule.next_run(every_minutes=every_minutes, cron=cron, after=now())
    src = session.get(Source, ds.id)
    if src is None:
        src = Source(dataset_id=ds.id)
        session.add(src)
    src.url, src.format, src.auth_header, src.auth_secret = url, format, auth_header, auth_secret[:100]
    src.every_minutes, src.cron, src.mode, src.enabled = every_minutes, cron, mode, enabled
    src.next_run_at = next_at if enabled else None
    src.updated_at = now()
    session.flush()
    audit.record(session, actor=actor, action="datahub.source.set", object_type="dataset", object_id=ds.id,
                 data={"url": safe_url(url), "format": format, "every_minutes": every_minutes, "cron": cron,
                       "mode": mode, "enabled": enabled}, org_path=view.org.path)
    bus.publish(session, "datahub.source.set", {"dataset_id": ds.id, "name": ds.name, "enabled": enabled}, key=ds.id)
    return src


def remove_source(session: Session, *, actor: Actor, name: str) -> None:
    """Bỏ nguồn — stop pulling the dataset (its pull history stays)."""
    view = access_dataset(session, actor, name, manage=True)
    src = session.get(Source, view.dataset.id)
    if src is None:
        raise NotFound("The dataset has no source.")
    session.delete(src)
    audit.record(session, actor=actor, action="datahub.source.removed", object_type="dataset",
                 object_id=view.dataset.id, data={}, org_path=view.org.path)


class FetchError(Exception):
    """The agency API could not be read; ``http_status`` when it answered."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.http_status = message, http_status


def fetch(src: Source, config: DatahubSettings, target: Path, *, transport: Any = None) -> tuple[int, int]:
    """Download the source's answer to ``target`` in chunks; return ``(http status, bytes)``."""
    import httpx

    headers = {"Accept": "application/json" if src.format == "json" else "text/csv"}
    if src.auth_header:
        secret = config.source_secrets.get(src.auth_secret)
        if secret is None:
            raise FetchError(f"The secret setting {src.auth_secret!r} is not configured on this server.")
        headers[src.auth_header] = secret.get_secret_value()
    size = 0
    try:
        with httpx.Client(timeout=config.pull_timeout_seconds, follow_redirects=False, transport=transport) as client, \
                client.stream("GET", src.url, headers=headers) as response:
            if response.status_code != 200:
                raise FetchError(f"The agency API answered HTTP {response.status_code}.", response.status_code)
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > config.pull_max_bytes:
                        raise FetchError(f"The answer is larger than {config.pull_max_bytes:,} bytes.", 200)
                    out.write(chunk)
            return response.status_code, size
    except httpx.HTTPError as exc:
        raise FetchError(f"The agency API could not be reached: {type(exc).__name__}.") from None


def pull(session: Session, *, actor: Actor, name: str, data_dir: Path, config: DatahubSettings,
         trigger: str = "manual", transport: Any = None) -> PullRun:
    """Kéo dữ liệu — download the source's answer and load it; returns the recorded run.

    A failed download or an unreadable answer is a run with status ``failed`` and nothing changed; a
    file with bad rows is a ``rejected`` load with its report, as for an upload. The source's next
    run time moves on either way.
    """
    view = access_dataset(session, actor, name, manage=True)
    ds = view.dataset
    src = session.get(Source, ds.id)
    if src is None:
        raise NotFound("The dataset has no source to pull from.")
    started = now()
    src.last_run_at = started
    if src.enabled:
        src.next_run_at = schedule.next_run(every_minutes=src.every_minutes, cron=src.cron, after=started)
    run = PullRun(dataset_id=ds.id, trigger=trigger, status="failed", started_at=started)
    with tempfile.TemporaryDirectory(prefix="datahub-pull-") as tmp:
        target = Path(tmp) / f"{ds.name}.{src.format}"
        try:
            run.http_status, run.bytes_read = fetch(src, config, target, transport=transport)
            load = service.load_file(session, actor=actor, name=ds.name, source=target, filename=target.name,
                                     data_dir=data_dir, mode=src.mode)
        except FetchError as exc:
            run.http_status, run.error = exc.http_status, exc.message[:1000]
        except Problem as exc:  # the answer is not a readable CSV / JSON list; nothing was written
            run.error = (exc.detail or exc.title)[:1000]
        else:
            run.status, run.load_id = load.status, load.id
            run.total_rows, run.valid_rows, run.error_count = load.total_rows, load.valid_rows, load.error_count
    run.finished_at = now()
    session.add(run)
    session.flush()
    if run.status == "failed":
        log.warning("pull of %s from %s failed: %s", ds.name, safe_url(src.url), run.error)
    audit.record(session, actor=actor, action="datahub.source.pulled", object_type="dataset", object_id=ds.id,
                 data={"run_id": run.id, "trigger": trigger, "status": run.status, "rows": run.total_rows,
                       "errors": run.error_count}, org_path=view.org.path)
    bus.publish(session, "datahub.source.pulled", {"dataset_id": ds.id, "name": ds.name, "run_id": run.id,
                                                   "status": run.status}, key=ds.id)
    return run


def due_sources(session: Session, at: Any = None) -> list[str]:
    """Names of the datasets whose enabled source is due (next run time passed), oldest due first."""
    from smartprovince.datahub.models import Dataset

    at = at or now()
    return list(session.scalars(
        select(Dataset.name).join(Source, Source.dataset_id == Dataset.id)
        .where(Source.enabled.is_(True), Source.next_run_at.is_not(None), Source.next_run_at <= at)
        .order_by(Source.next_run_at)))
