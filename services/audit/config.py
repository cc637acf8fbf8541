"""The audit service's own settings (``SEGFLOW_AUDIT_`` prefix): checkpoint cadence, signing key, DB role.

The shared ``Settings`` carry storage, bus and security; these add what only the audit log needs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    """Checkpoint every ``checkpoint_every_n`` entries or ``checkpoint_every_s`` seconds (whichever first)."""

    model_config = SettingsConfigDict(env_prefix="SEGFLOW_AUDIT_", extra="ignore")

    checkpoint_every_n: int = 1000
    checkpoint_every_s: float = 60.0
    capture_batch: int = 2000
    # where the Ed25519 signing key lives (PEM, PKCS#8); default <data_dir>/audit-signing-key.pem
    signing_key_file: Path | None = None
    # seconds between looks for new partner topics (segflow.segments.partner.*.v1) to capture
    topic_refresh_s: float = 30.0
    # PostgreSQL: the capture writer runs ``SET LOCAL ROLE <db_role>`` (e.g. segflow_audit_app) when set
    db_role: str | None = None
