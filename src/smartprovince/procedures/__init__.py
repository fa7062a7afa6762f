"""Thủ tục hành chính — administrative procedures: catalog, dossiers, lifecycle, statistics.

Public interface for other modules (import only from here):

* :data:`Status` — the ten national dossier statuses;
* :func:`dossier_by_code` — read a dossier's public summary by its code;
* :func:`daily_counts` — dossiers received and finished per day and agency, history included
  (the demo's bulk-loaded dossiers published no events; the IOC reads them from here);
* events ``procedures.dossier.<verb>`` on the bus (see ``service.EVENT_NAMES``).
"""

from __future__ import annotations

from smartprovince.procedures.daily import DayCount, daily_counts
from smartprovince.procedures.lifecycle import STATUS_LABELS, Status

__all__ = ["STATUS_LABELS", "DayCount", "Status", "daily_counts"]
