"""Kho dữ liệu dùng chung và cổng dữ liệu mở — the shared data hub and open-data portal.

Sector datasets defined as data, loads from CSV / XLSX / JSON with a row-by-row report, shared
category lists with versions, quality scores "đúng, đủ, sạch, sống", a CKAN-compatible API and a
DCAT-AP 3.0 catalogue.

Public interface for other modules (import only from here):

* :func:`define_dataset`, :func:`load_file` — sector packs ship datasets and data through these;
* :func:`codes_on` — the valid codes of a shared category list on a day;
* events ``datahub.dataset.defined|updated|loaded``, ``datahub.load.rejected``,
  ``datahub.codelist.created|version_published``, ``datahub.quality.measured``;
* the analytics warehouse (kho phân tích, ``docs/warehouse.md``) that the KPI engine reads:
  :func:`sync_warehouse`, :func:`warehouse_query`, :func:`warehouse_tables`, :func:`compact_warehouse`,
  :func:`warehouse_status`.

Warehouse views (one per feed; instants are ``TIMESTAMPTZ``, compared and grouped in the session time
zone Asia/Ho_Chi_Minh; org paths are identity's materialised paths ``/<id>/<id>/…/``, so
``agency_path LIKE '/<province id>/<district id>/%'`` selects a subtree). No view has personal data.

``dossiers`` — hồ sơ TTHC, one row per dossier (procedures):
  ``id``, ``code``, ``procedure_code``, ``procedure_field`` (lĩnh vực), ``procedure_level``
  (province | district | commune | central), ``essential`` (one of the 25 essential services),
  ``agency_code``, ``agency_org_id``, ``agency_path``, ``district_org_id``, ``commune_org_id``
  (from the agency's place in the tree; NULL above that level), ``channel`` (online | counter | post),
  ``online`` (BOOLEAN), ``status`` (INTEGER 1–10, the procedures lifecycle code), ``submitted_at``,
  ``received_at``, ``due_at``, ``finished_at``, ``returned_at``, ``closed_at`` (refused / stopped),
  ``timing`` (``early`` | ``on_time`` | ``late`` for finished dossiers, Decision 766; ``open``
  otherwise — compare ``due_at`` with the period end for open-within / open-overdue),
  ``supplement_requests`` (INTEGER), ``fee_total``, ``fee_paid`` (BIGINT, VND), ``paid_online``,
  ``digitised`` (BOOLEAN).
``reports`` — phản ánh hiện trường, one row per citizen report (feedback):
  ``id``, ``code``, ``category``, ``channel``, ``unit_org_id``, ``unit_path`` (the handling unit),
  ``area_org_id`` (the commune / ward where it happened, if known), ``commune_org_id``,
  ``district_org_id``, ``lon``, ``lat`` (DOUBLE), ``created_at``, ``acknowledged_at``,
  ``resolved_at``, ``closed_at``, ``due_at``, ``status``, ``on_time`` (BOOLEAN: resolved by
  ``due_at``; NULL while unresolved), ``rating`` (INTEGER 1–5 or NULL), ``merged`` (BOOLEAN: merged
  into another report — leave these out of counts), ``reopen_count`` (INTEGER).
``incidents`` — sự cố của IOC (operations): ``id``, ``source``, ``category``, ``severity``,
  ``status``, ``org_id``, ``org_path``, ``lon``, ``lat``, ``opened_at``, ``acknowledged_at``,
  ``resolved_at``, ``closed_at``, ``escalations`` (INTEGER).
``observations_hourly`` — hourly rollups of sensor observations (sensing): ``datastream_id``,
  ``thing_id``, ``observed_property_id`` (BIGINT), ``observed_property`` (name), ``unit``
  (symbol), ``org_id``, ``org_path`` (of the station's owner, if known), ``hour`` (start of the
  hour), ``count`` (BIGINT), ``mean``, ``min``, ``max``, ``last_value`` (DOUBLE).
``dataset_<name>`` — every sector dataset of the data hub, public or internal (``-`` in the name
  becomes ``_``: ``dataset_truong_hoc``): ``_record`` (BIGINT row number) and every non-personal
  field, typed as in the dataset definition (string → VARCHAR, integer → BIGINT, number → DOUBLE,
  boolean → BOOLEAN, date → DATE, code → VARCHAR). Replaced as a whole when the dataset is reloaded.
"""

from __future__ import annotations

from smartprovince.datahub.codelists import codes_on
from smartprovince.datahub.service import define_dataset, load_file
from smartprovince.datahub.warehouse import compact as compact_warehouse
from smartprovince.datahub.warehouse import status as warehouse_status
from smartprovince.datahub.warehouse import sync_warehouse, warehouse_query, warehouse_tables

__all__ = [
    "codes_on",
    "compact_warehouse",
    "define_dataset",
    "load_file",
    "sync_warehouse",
    "warehouse_query",
    "warehouse_status",
    "warehouse_tables",
]
