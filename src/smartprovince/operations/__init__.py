"""Điều hành — the Intelligent Operations Centre (IOC): incidents, SOPs, live feed, handling statistics.

Public interface for other modules (import only from here):

* :func:`open_incident` with :class:`IncidentInput` — open an incident (or join an open duplicate);
  most modules should rather publish ``operations.incident.ingest`` on the bus;
* :func:`incident_tiles` — the figures of the IOC wall's tile row for an actor;
* :data:`STATUS_LABELS`, :data:`SEVERITY_LABELS`;
* events ``operations.incident.<verb>`` (see ``events.py``).
"""

from __future__ import annotations

from smartprovince.operations.lifecycle import SEVERITY_LABELS, STATUS_LABELS
from smartprovince.operations.queries import tiles as incident_tiles
from smartprovince.operations.service import IncidentInput, open_incident

__all__ = ["SEVERITY_LABELS", "STATUS_LABELS", "IncidentInput", "incident_tiles", "open_incident"]
