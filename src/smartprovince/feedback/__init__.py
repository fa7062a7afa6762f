"""Phản ánh hiện trường — citizen feedback: reports of problems in public places, routed to the
responsible unit, followed on a public map, with Open311 GeoReport v2 and notifications.

Public interface for other modules (import only from here):

* :func:`submit_report` and :class:`NewReport` — record a report (e.g. from a hotline integration);
* :func:`all_categories`, :func:`get_category` — the report categories;
* :data:`STATUS_LABELS` — Vietnamese labels of the statuses;
* events ``feedback.report.<verb>`` on the bus (see ``events.py``).
"""

from __future__ import annotations

from smartprovince.feedback.categories import all_categories, get_category
from smartprovince.feedback.lifecycle import STATUS_LABELS
from smartprovince.feedback.service import NewReport, submit_report

__all__ = ["STATUS_LABELS", "NewReport", "all_categories", "get_category", "submit_report"]
