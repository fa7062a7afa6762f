"""Nguồn kho phân tích của kho dữ liệu — one warehouse feed ``dataset_<name>`` per sector dataset.

A dataset is replaced as a whole by each load (a new snapshot number), so its feed is in ``replace``
mode: the watermark is the snapshot number, and a sync after a new load copies every record of the
new snapshot. Fields declared personal are never copied; internal datasets are (the warehouse is read
by the KPI engine as the system, never by the open-data portal).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core.warehouse import WarehouseFeed
from smartprovince.datahub.fields import DUCKDB_TYPES, FieldDef
from smartprovince.datahub.models import Dataset, Record

BATCH = 20_000


def view_name(dataset_name: str) -> str:
    """``truong-hoc`` → ``dataset_truong_hoc``."""
    return "dataset_" + dataset_name.lower().replace("-", "_")


def _feed(dataset: Dataset) -> WarehouseFeed:
    fields = [FieldDef.parse(f) for f in dataset.fields]
    kept = [f for f in fields if not f.personal]
    dataset_id, snapshot = dataset.id, dataset.snapshot

    def rows(session: Session, after: Any) -> tuple[Iterator[tuple[Any, ...]], Any]:
        if after == snapshot:
            return iter(()), after
        return _records(session, dataset_id, [f.name for f in kept]), snapshot

    return WarehouseFeed(
        name=view_name(dataset.name),
        description=f"{dataset.title} — bộ dữ liệu {dataset.name}" + ("" if dataset.public else " (nội bộ)"),
        columns=(("_record", "BIGINT"), *((f.name, DUCKDB_TYPES[f.type]) for f in kept)),
        key=("_record",),
        rows=rows,
        mode="replace",
    )


def _records(session: Session, dataset_id: str, names: list[str]) -> Iterator[tuple[Any, ...]]:
    stmt = select(Record.row_no, Record.data).where(Record.dataset_id == dataset_id).order_by(Record.row_no)
    for row in session.execute(stmt.execution_options(yield_per=BATCH)):
        row_no, data = row[0], row[1]
        values: dict[str, Any] = data or {}
        yield (row_no, *(values.get(n) for n in names))


def dataset_feeds(session: Session) -> list[WarehouseFeed]:
    """A feed for every dataset that has been loaded at least once."""
    return [_feed(d) for d in session.scalars(select(Dataset).where(Dataset.snapshot > 0).order_by(Dataset.name))]
