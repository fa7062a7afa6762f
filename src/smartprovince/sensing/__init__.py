"""Cảm biến IoT — IoT sensing: SensorThings API, MQTT ingestion, rollups, VN_AQI and threshold alerts.

Public interface for other modules (import only from here):

* events on the bus: ``sensing.alert.raised`` and ``sensing.alert.cleared`` (payload: alert id,
  threshold name, level, severity, station and datastream, trigger / peak / last value, time and
  coordinates), ``sensing.observation.received`` (one per stored batch: total ``count``,
  ``first`` / ``last`` time, and ``datastreams`` — one summary per datastream), and
  ``sensing.<entity>.created|updated|deleted`` for SensorThings entities;
* :func:`hourly_aqi` / :func:`daily_aqi` — the VN_AQI calculation (Decision 1459/QĐ-TCMT).
"""

from __future__ import annotations

from smartprovince.sensing.aqi import daily_aqi, hourly_aqi

__all__ = ["daily_aqi", "hourly_aqi"]
