"""Settings of the analytics warehouse (environment variables ``SMARTPROVINCE_WAREHOUSE_…``).

They live here rather than in the platform's ``settings.py`` because only the data hub reads them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarehouseSettings(BaseSettings):
    """How often the app process copies new operational data into the warehouse."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_WAREHOUSE_", extra="ignore")

    background_sync: bool = Field(
        True, description="Sync the warehouse periodically in the app process (one process at a time: a file lock).")
    sync_interval_seconds: float = Field(
        300.0, ge=5, description="Seconds between two periodic syncs; the first runs when the app starts.")
