"""Settings of the data hub (environment variables ``SMARTPROVINCE_DATAHUB_…``).

They live here rather than in the platform's ``settings.py`` because only this module reads them.
Secrets of agency APIs are settings, never database rows: a source names its secret
(``auth_secret``) and ``source_secrets`` maps that name to the header value, e.g.
``SMARTPROVINCE_DATAHUB_SOURCE_SECRETS='{"so-yte-api": "Bearer abc…"}'``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatahubSettings(BaseSettings):
    """Scheduled pulls of agency APIs."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_DATAHUB_", extra="ignore")

    scheduler: bool = Field(True, description="Run the scheduled pulls in the app process (one process holds the "
                                               "lock row at a time).")
    scheduler_interval_seconds: float = Field(30.0, description="How often the scheduler looks for due sources.")
    scheduler_lease_seconds: float = Field(300.0, description="How long the scheduler lock is held without renewal "
                                                              "before another process may take over.")
    source_secrets: dict[str, SecretStr] = Field(default_factory=dict,
                                                 description="Secret name → header value for agency APIs (JSON).")
    pull_timeout_seconds: float = Field(60.0, description="Timeout of one request to an agency API.")
    pull_max_bytes: int = Field(500 * 1024 * 1024, description="Largest answer accepted from an agency API.")
