"""Every setting of the platform, read from the environment (prefix ``SMARTPROVINCE_``) or ``.env``.

Each field carries a description; ``smartprovince settings`` prints them all.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Cấu hình — the platform's configuration."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = Field(
        "development", description="development, test or production; production refuses default secrets."
    )
    data_dir: Path = Field(Path("var"), description="Folder for the SQLite database, uploaded files, secrets.")
    host: str = Field("127.0.0.1", description="Address the web server listens on.")
    port: int = Field(8000, description="Port the web server listens on.")
    base_url: str | None = Field(None, description="Public URL of the site (default http://HOST:PORT).")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite file DATA_DIR/smartprovince.db. PostgreSQL: postgresql+psycopg://…"
    )
    bus_url: str = Field("inprocess", description="Event bus: 'inprocess' (default) or nats://host:4222 (JetStream).")
    mqtt_url: str | None = Field(
        None, description="MQTT broker for device ingestion, e.g. mqtt://127.0.0.1:1883; unset = off."
    )
    secret_key: str | None = Field(
        None, description="Key that signs sessions and tokens; generated into DATA_DIR/secret_key when unset."
    )
    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_json: bool = Field(True, description="Write logs as JSON lines (one object per line).")
    load_demo: bool = Field(True, description="Load the reference province's demo data on first start of `run`.")
    max_upload_bytes: int = Field(20 * 1024 * 1024, description="Largest accepted uploaded file, in bytes.")
    session_hours: int = Field(12, description="How long a browser session lasts, in hours.")
    token_days: int = Field(30, description="How long an API bearer token lasts, in days.")
    login_max_failures: int = Field(5, description="Failed logins in a row before an account is locked.")
    lockout_minutes: int = Field(15, description="How long a locked account stays locked, in minutes.")
    oidc_issuer: str | None = Field(None, description="OpenID Connect provider URL (issuer); unset = OIDC login off.")
    oidc_client_id: str | None = Field(None, description="OpenID Connect client id.")
    oidc_client_secret: str | None = Field(None, description="OpenID Connect client secret.")
    oidc_label: str = Field("VNeID / SSO", description="Label of the OIDC login button.")
    bus_max_attempts: int = Field(6, description="Delivery attempts for an event handler before it is dead-lettered.")
    bus_retry_base_seconds: float = Field(2.0, description="First retry delay; doubles each attempt.")
    province_code: str = Field("30", description="Statistics-office code of the province this install serves.")
    map_tile_url: str = Field(
        "",
        description="Map tiles for every map, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png or the province's "
        "own tile server; empty (default) = no tile server (closed government network): maps draw the district "
        "outlines instead.",
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and not self.secret_key:
            raise ValueError("SMARTPROVINCE_SECRET_KEY must be set in production")
        return self

    @property
    def db_url(self) -> str:
        """The database URL actually used."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'smartprovince.db').resolve()}"

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"

    def secret(self) -> str:
        """The signing secret; generated once and kept in the data folder when not configured."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings``)."""
    return Settings()
