"""Kho dữ liệu dùng chung và cổng dữ liệu mở — the shared data hub and open-data portal.

Sector datasets defined as data, loads from CSV / XLSX / JSON with a row-by-row report, shared
category lists with versions, quality scores "đúng, đủ, sạch, sống", a CKAN-compatible API and a
DCAT-AP 3.0 catalogue.

Public interface for other modules (import only from here):

* :func:`define_dataset`, :func:`load_file` — sector packs ship datasets and data through these;
* :func:`codes_on` — the valid codes of a shared category list on a day;
* events ``datahub.dataset.defined|updated|loaded``, ``datahub.load.rejected``,
  ``datahub.codelist.created|version_published``, ``datahub.quality.measured``.
"""

from __future__ import annotations

from smartprovince.datahub.codelists import codes_on
from smartprovince.datahub.service import define_dataset, load_file

__all__ = ["codes_on", "define_dataset", "load_file"]
