"""Settings of the feedback module (environment variables ``SMARTPROVINCE_FEEDBACK_…``).

They live here rather than in the platform's ``settings.py`` because only this module reads them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FeedbackSettings(BaseSettings):
    """Notification sender, periodic jobs and Open311 settings (map tiles: the platform's ``map_tile_url``)."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_FEEDBACK_", extra="ignore")

    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications; unset = e-mails wait.")
    smtp_port: int = Field(25, description="SMTP port.")
    smtp_starttls: bool = Field(False, description="Use STARTTLS before sending.")
    smtp_user: str | None = Field(None, description="SMTP login, when the server needs one.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    mail_from: str = Field("phananh@smartprovince.local", description="Sender address of notification e-mails.")
    sms_backend: str = Field("simulator", description="SMS gateway adapter: 'simulator' (no real provider here).")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL used in links sent to citizens.")
    jurisdiction_id: str = Field("haiduong.gov.vn", description="Open311 jurisdiction_id of this installation.")
    sender_interval_seconds: float = Field(10.0, description="How often the sender delivers pending messages.")
    sla_interval_seconds: float = Field(300.0, description="How often the SLA job runs (warnings, escalation).")
    background_jobs: bool = Field(True, description="Run the sender and SLA job in the app process.")
    anonymous_per_minute: int = Field(10, description="Open311/web submissions per minute per IP without API key.")
    video_max_bytes: int = Field(50 * 1024 * 1024, description="Largest accepted report video (MP4, MOV, WebM), bytes.")
    video_max_seconds: float = Field(180.0, description="Longest accepted report video, seconds (read from the file).")
