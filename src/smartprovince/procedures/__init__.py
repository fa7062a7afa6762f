"""Thủ tục hành chính — administrative procedures: catalog, dossiers, lifecycle, statistics.

Public interface for other modules (import only from here):

* :data:`Status` — the ten national dossier statuses;
* :func:`dossier_by_code` — read a dossier's public summary by its code;
* events ``procedures.dossier.<verb>`` on the bus (see ``service.EVENT_NAMES``).
"""

from __future__ import annotations

from smartprovince.procedures.lifecycle import STATUS_LABELS, Status

__all__ = ["STATUS_LABELS", "Status"]
